//! Authentication of people: passwords, failure throttling, and the single-sign-on session.
//! Later factors (TOTP, mailed tokens, SMS, passkeys) join here.

pub mod password;
pub mod password_rules;
pub mod recovery;
pub mod session;
pub mod signin;

/// Authentication Context Class References (`acr`) this IdP issues; see `docs/tokens.md`.
pub mod acr {
    /// Signed in with something the person knows (a password).
    pub const PASSWORD: &str = "urn:poortwachter:acr:password";
}
