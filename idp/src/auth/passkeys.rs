//! A small wrapper over `webauthn-rs` for passkey registration and sign-in.
//!
//! Every ceremony is two HTTP requests: `start_*` returns the options for the browser (JSON for
//! `navigator.credentials.create/get`, binary fields as base64url) and the ceremony *state* as a
//! JSON string. The state must be kept **server-side** (a key-value store keyed by a session or
//! flow id, with a TTL of [`CEREMONY_TIMEOUT`], taken out — deleted — when the POST comes back):
//! it holds the challenge and the user-verification policy, and webauthn-rs neither signs it nor
//! puts a time in it. Never round-trip it through the browser (hidden field, cookie) unsealed.
//!
//! User verification is *required* for both registration and sign-in (webauthn-rs's passkey
//! profile enforces it; we do not weaken it). A passkey is then a possession factor (the key) plus
//! a knowledge/inherence factor checked by the authenticator (PIN, fingerprint, face), so a
//! passkey sign-in is phishing-resistant multi-factor by itself and can replace password + OTP.
//! With UV "preferred" a stolen unlocked security key alone would sign in.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use webauthn_rs::prelude::{
    AuthenticationResult, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

pub use webauthn_rs::prelude::Passkey;

/// How long the browser is told it may take, and how long the server should keep the state.
/// webauthn-rs does not enforce this itself: the store's TTL must.
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);

/// What went wrong, in categories fit to show a person. Never carries the underlying detail
/// (which is logged at debug/warn level instead) and never any secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// No response came back: the person cancelled, the browser timed out, or script is off.
    #[error("The passkey request was cancelled or timed out. Please try again.")]
    Cancelled,
    /// The ceremony state is gone or unusable (expired, already used, other ceremony).
    #[error("This passkey request has expired. Please start again.")]
    Expired,
    /// The response did not verify (malformed, wrong challenge or origin, bad signature, ...).
    #[error("The passkey response could not be verified.")]
    Invalid,
    /// The authenticator did not verify the person (PIN or biometrics).
    #[error("Your device did not verify you (PIN, fingerprint or face). Please try again.")]
    UserNotVerified,
    /// This authenticator is already registered (excluded credential).
    #[error("This passkey is already registered.")]
    AlreadyRegistered,
    /// The credential used is not one of this account's passkeys.
    #[error("This passkey is not registered for this account.")]
    UnknownCredential,
    /// The signature counter went backwards: the key may have been cloned.
    #[error("This passkey can no longer be used. Please contact support.")]
    PossiblyCloned,
    /// The server's relying-party settings are wrong (rp id vs origin).
    #[error("Passkeys are not available right now.")]
    Configuration,
    /// Anything else on the server side.
    #[error("Something went wrong. Please try again.")]
    Internal,
}

impl PasskeyError {
    /// A stable code, for translation tables and logs.
    pub fn code(self) -> &'static str {
        match self {
            PasskeyError::Cancelled => "cancelled",
            PasskeyError::Expired => "expired",
            PasskeyError::Invalid => "invalid",
            PasskeyError::UserNotVerified => "user_not_verified",
            PasskeyError::AlreadyRegistered => "already_registered",
            PasskeyError::UnknownCredential => "unknown_credential",
            PasskeyError::PossiblyCloned => "possibly_cloned",
            PasskeyError::Configuration => "configuration",
            PasskeyError::Internal => "internal",
        }
    }

    fn from_webauthn(e: WebauthnError, during: &'static str) -> Self {
        use WebauthnError as W;
        let category = match &e {
            W::Configuration => PasskeyError::Configuration,
            W::UserNotVerified | W::UserNotPresent | W::InconsistentUserVerificationPolicy => {
                PasskeyError::UserNotVerified
            }
            W::CredentialExcludedFromRequest | W::CredentialAlreadyExists => PasskeyError::AlreadyRegistered,
            W::CredentialNotFound => PasskeyError::UnknownCredential,
            W::CredentialPossibleCompromise => PasskeyError::PossiblyCloned,
            W::InvalidUsername | W::InvalidUserUniqueId => PasskeyError::Invalid,
            W::OpenSSLError(_) | W::ChallengePersistenceError | W::CredentialPersistenceError => PasskeyError::Internal,
            _ => PasskeyError::Invalid,
        };
        // The underlying message names the failed check only (no key material, no challenge).
        match e {
            // A wrong origin or rp id hash is what a phishing proxy looks like: worth a warning.
            W::InvalidRPOrigin | W::InvalidRPIDHash | W::CredentialPossibleCompromise => {
                tracing::warn!(error = %e, during, "passkey ceremony rejected");
            }
            _ => tracing::debug!(error = %e, during, "passkey ceremony failed"),
        }
        category
    }
}

/// The result of a successful sign-in.
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    /// base64url (no padding) credential id: the key to look the stored passkey up by.
    pub credential_id: String,
    /// Always true on success (UV is required), kept for the audit log / `amr`.
    pub user_verified: bool,
    /// The stored passkey should be updated (counter or backup state changed): see [`AuthOutcome::apply_to`].
    pub needs_update: bool,
    /// The credential is backed up (synced passkey) right now.
    pub backup_state: bool,
    /// The credential may be backed up (synced passkey).
    pub backup_eligible: bool,
    /// The authenticator's signature counter (0 for most synced passkeys).
    pub counter: u32,
    result: AuthenticationResult,
}

impl AuthOutcome {
    /// Update a stored passkey (counter, backup flags) from this sign-in. Returns `Some(true)` if it
    /// changed and must be written back, `Some(false)` if not, `None` if it is another credential.
    pub fn apply_to(&self, passkey: &mut Passkey) -> Option<bool> {
        passkey.update_credential(&self.result)
    }
}

/// Serialise a passkey (public key, counter, flags; nothing secret) for storage.
pub fn passkey_to_json(passkey: &Passkey) -> Result<String, PasskeyError> {
    serde_json::to_string(passkey).map_err(|_| PasskeyError::Internal)
}

/// Load a stored passkey.
pub fn passkey_from_json(json: &str) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(json).map_err(|e| {
        tracing::error!(error = %e, "stored passkey does not parse");
        PasskeyError::Internal
    })
}

/// The credential id as base64url without padding (what the browser calls `id`).
pub fn credential_id(passkey: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice())
}

/// The relying party for an issuer: its host is the rp id. `None` when the host is an IP address
/// (WebAuthn binds passkeys to a domain name), so passkeys are simply not offered then.
pub fn for_issuer(issuer: &str, rp_name: &str) -> Option<Passkeys> {
    let origin = Url::parse(issuer).ok()?;
    let host = match origin.host()? {
        url::Host::Domain(domain) => domain.to_string(),
        _ => {
            tracing::info!("passkeys need a domain name in server.public_url; they are off");
            return None;
        }
    };
    Passkeys::new(&host, &origin, rp_name).ok()
}

/// A stable, opaque WebAuthn user handle for an account (not its e-mail address): derived from
/// the account's subject, which is itself random.
pub fn user_handle(subject: &str) -> Uuid {
    let digest = crate::crypto::sha256(format!("webauthn-user:{subject}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// One relying party (rp id + origin) and its webauthn settings.
#[derive(Debug)]
pub struct Passkeys {
    webauthn: Webauthn,
}

impl Passkeys {
    /// `rp_id` is the registrable domain the passkeys are bound to (e.g. `login.example.nl`, or
    /// `localhost` in tests); `origin` is the exact origin the pages are served from, including a
    /// non-default port (`http://localhost:8080`). The origin's host must be `rp_id` or a
    /// subdomain of it; an IP address is never accepted.
    pub fn new(rp_id: &str, origin: &Url, rp_name: &str) -> Result<Self, PasskeyError> {
        let webauthn = WebauthnBuilder::new(rp_id, origin)
            .map_err(|e| PasskeyError::from_webauthn(e, "configuration"))?
            .rp_name(rp_name)
            .timeout(CEREMONY_TIMEOUT)
            .build()
            .map_err(|e| PasskeyError::from_webauthn(e, "configuration"))?;
        Ok(Passkeys { webauthn })
    }

    /// Begin registering a passkey for `user_id` (a stable, opaque id: it is stored on the
    /// authenticator and must not be an e-mail address). `existing` are the account's passkeys,
    /// excluded so the same authenticator is not registered twice.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        username: &str,
        display_name: &str,
        existing: &[Passkey],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let exclude: Vec<_> = existing.iter().map(|p| p.cred_id().clone()).collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user_id, username, display_name, exclude)
            .map_err(|e| PasskeyError::from_webauthn(e, "start_registration"))?;
        Ok((to_value(&options)?, to_string(&state)?))
    }

    /// Finish a registration with the state from [`Passkeys::start_registration`] and the
    /// browser's JSON. The caller must still check the credential id is not already stored for
    /// *any* account before saving it.
    pub fn finish_registration(&self, state_json: &str, response_json: &str) -> Result<Passkey, PasskeyError> {
        let state: PasskeyRegistration = parse_state(state_json)?;
        let response: RegisterPublicKeyCredential = parse_response(response_json)?;
        self.webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(|e| PasskeyError::from_webauthn(e, "finish_registration"))
    }

    /// Begin a sign-in with one of `passkeys` (the account's, after the username is known).
    pub fn start_authentication(&self, passkeys: &[Passkey]) -> Result<(serde_json::Value, String), PasskeyError> {
        if passkeys.is_empty() {
            // webauthn-rs refuses an empty allow-list too; say so plainly.
            return Err(PasskeyError::UnknownCredential);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(passkeys)
            .map_err(|e| PasskeyError::from_webauthn(e, "start_authentication"))?;
        Ok((to_value(&options)?, to_string(&state)?))
    }

    /// Finish a sign-in. On success the signature, challenge, origin, rp id, user verification and
    /// counter have been checked and the credential is one of those passed to `start_authentication`.
    pub fn finish_authentication(&self, state_json: &str, response_json: &str) -> Result<AuthOutcome, PasskeyError> {
        let state: PasskeyAuthentication = parse_state(state_json)?;
        let response: PublicKeyCredential = parse_response(response_json)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(|e| PasskeyError::from_webauthn(e, "finish_authentication"))?;
        Ok(AuthOutcome {
            credential_id: URL_SAFE_NO_PAD.encode(result.cred_id().as_slice()),
            user_verified: result.user_verified(),
            needs_update: result.needs_update(),
            backup_state: result.backup_state(),
            backup_eligible: result.backup_eligible(),
            counter: result.counter(),
            result,
        })
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(v).map_err(|_| PasskeyError::Internal)
}

fn to_string<T: serde::Serialize>(v: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(v).map_err(|_| PasskeyError::Internal)
}

fn parse_state<T: serde::de::DeserializeOwned>(state_json: &str) -> Result<T, PasskeyError> {
    // Our own data: if it does not parse it is stale (other ceremony, older format).
    serde_json::from_str(state_json).map_err(|_| PasskeyError::Expired)
}

fn parse_response<T: serde::de::DeserializeOwned>(response_json: &str) -> Result<T, PasskeyError> {
    if response_json.trim().is_empty() {
        return Err(PasskeyError::Cancelled);
    }
    serde_json::from_str(response_json).map_err(|e| {
        // serde's message can quote input; log only where it failed.
        tracing::debug!(line = e.line(), column = e.column(), "passkey response does not parse");
        PasskeyError::Invalid
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passkeys() -> Passkeys {
        let origin = Url::parse("http://localhost:8080").unwrap();
        Passkeys::new("localhost", &origin, "Poortwachter").unwrap()
    }

    #[test]
    fn rp_id_must_match_origin() {
        let origin = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(Passkeys::new("127.0.0.1", &origin, "x").unwrap_err(), PasskeyError::Configuration);
        let origin = Url::parse("https://evil-example.nl").unwrap();
        assert_eq!(Passkeys::new("example.nl", &origin, "x").unwrap_err(), PasskeyError::Configuration);
        let origin = Url::parse("https://login.example.nl").unwrap();
        assert!(Passkeys::new("example.nl", &origin, "x").is_ok());
    }

    #[test]
    fn registration_options_are_browser_json_and_require_uv() {
        let pk = passkeys();
        let (options, state) = pk.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().unwrap();
        assert!(!challenge.contains(['+', '/', '=']), "base64url: {challenge}");
        assert_eq!(URL_SAFE_NO_PAD.decode(challenge).unwrap().len(), 32);
        assert_eq!(public_key["rp"]["id"], "localhost");
        assert_eq!(public_key["rp"]["name"], "Poortwachter");
        assert_eq!(public_key["user"]["name"], "alice");
        assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(public_key["timeout"], 300_000);
        assert!(public_key.get("excludeCredentials").is_none());
        // The state is JSON and comes back in one piece.
        let _: PasskeyRegistration = serde_json::from_str(&state).unwrap();
        assert!(state.contains(challenge));
    }

    #[test]
    fn authentication_needs_a_passkey() {
        assert_eq!(passkeys().start_authentication(&[]).unwrap_err(), PasskeyError::UnknownCredential);
    }

    #[test]
    fn bad_input_maps_to_presentable_errors() {
        let pk = passkeys();
        let (_, reg_state) = pk.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
        assert_eq!(pk.finish_registration(&reg_state, "").unwrap_err(), PasskeyError::Cancelled);
        assert_eq!(pk.finish_registration(&reg_state, "{nope").unwrap_err(), PasskeyError::Invalid);
        assert_eq!(pk.finish_registration("{}", "{}").unwrap_err(), PasskeyError::Expired);
        // A registration state is not an authentication state.
        assert_eq!(pk.finish_authentication(&reg_state, "{}").unwrap_err(), PasskeyError::Expired);
        // Well-formed but wrong: challenge from elsewhere.
        let forged = serde_json::json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {
                "attestationObject": "oA",
                "clientDataJSON": URL_SAFE_NO_PAD.encode(
                    br#"{"type":"webauthn.create","challenge":"AAAA","origin":"http://localhost:8080"}"#),
            }
        });
        let err = pk.finish_registration(&reg_state, &forged.to_string()).unwrap_err();
        assert_eq!(err, PasskeyError::Invalid);
        // The message a person sees says nothing about the internals.
        assert!(!err.to_string().contains("challenge"));
    }
}
