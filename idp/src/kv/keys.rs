//! Every key the IdP keeps in the key-value store, in one place: what it holds, how long it
//! lives, and that no two kinds can collide (each starts with its own prefix and a colon).
//! Keys never hold a secret as itself: codes, tokens and addresses of mailboxes appear only as
//! digests, so a look at Redis reveals nothing that signs anyone in.
//!
//! | prefix | holds | lifetime |
//! |---|---|---|
//! | `code:` | an authorization code's grant-to-be, then the marker "redeemed" (`oidc::codes`) | `tokens.code_ttl_secs`, then as long again |
//! | `interaction:` | a sign-in in progress (`signin::Interaction`) | `session.interaction_ttl_secs` |
//! | `activation:` | an activation in progress (journey A, code proved; `activation::pending`) | `session.interaction_ttl_secs` |
//! | `logout:` | a sign-out waiting for the person's confirmation (`oidc::logout`) | `session.interaction_ttl_secs` |
//! | `otp:` / `otp-tries:` | a sent code's digest, and the tries on it, per interaction | `factors.code_ttl_secs` |
//! | `otp-sends:` | codes sent per account and per phone number | `factors.send_window_secs` |
//! | `factor-fail:` | wrong second-factor answers per account | `factors.failure_window_secs` |
//! | `passkey:` | a WebAuthn ceremony per interaction or enrolment | the ceremony's timeout |
//! | `signin-fail:` | wrong passwords per username, per known browser, per address | `signin.window_secs` |
//! | `signin-device:` | a browser that gave a username's password (`auth::known_device`) | `signin.device_cookie_days` |
//! | `reset-request:` / `reset-fail:` | reset mails asked and bad reset links, per address or mailbox (`auth::recovery`) | an hour / `signin.window_secs` |
//! | `activate-fail:` | wrong activation answers per address | `signin.window_secs` |
//! | `audit-machine-token:` | a machine client's token for a scope was recorded in the audit log | one hour |

use std::net::IpAddr;

use crate::crypto;

/// `digest`: the code's digest; the code itself is never a key.
pub fn authorization_code(digest: &str) -> String {
    format!("code:{digest}")
}

pub fn interaction(id: &str) -> String {
    format!("interaction:{id}")
}

pub fn activation(id: &str) -> String {
    format!("activation:{id}")
}

pub fn logout(id: &str) -> String {
    format!("logout:{id}")
}

pub fn otp_code(interaction: &str) -> String {
    format!("otp:{interaction}")
}

pub fn otp_tries(interaction: &str) -> String {
    format!("otp-tries:{interaction}")
}

pub fn otp_sends_by_account(account: &str) -> String {
    format!("otp-sends:account:{account}")
}

/// `phone` in E.164; kept as a digest.
pub fn otp_sends_by_phone(phone: &str) -> String {
    format!("otp-sends:phone:{}", crypto::token_digest(phone))
}

pub fn factor_failures(account: &str) -> String {
    format!("factor-fail:{account}")
}

/// `slot`: the interaction (sign-in) or the enrolment the ceremony belongs to.
pub fn passkey_ceremony(slot: &str) -> String {
    format!("passkey:{slot}")
}

/// `normalised`: the normalised username; kept as a digest.
pub fn signin_failures_by_username(normalised: &str) -> String {
    format!("signin-fail:user:{}", crypto::token_digest(normalised))
}

/// `digest`: the known browser's keyed digest (`auth::known_device`).
pub fn signin_failures_by_device(digest: &str) -> String {
    format!("signin-fail:device:{digest}")
}

pub fn signin_failures_by_address(address: IpAddr) -> String {
    format!("signin-fail:ip:{}", crate::auth::address_key(address))
}

/// Set once per address and window when its throttling was recorded in the audit log.
pub fn signin_throttle_recorded(address: IpAddr) -> String {
    format!("{}:recorded", signin_failures_by_address(address))
}

/// Set for an hour once a machine client's token for `scope` was recorded in the audit log.
pub fn machine_tokens_recorded(client: &str, scope: &str) -> String {
    format!("audit-machine-token:{client}:{}", crypto::token_digest(scope))
}

pub fn known_device(digest: &str) -> String {
    format!("signin-device:{digest}")
}

pub fn reset_requests_by_address(address: IpAddr) -> String {
    format!("reset-request:ip:{}", crate::auth::address_key(address))
}

/// `normalised_email`: kept as a digest.
pub fn reset_requests_by_mailbox(normalised_email: &str) -> String {
    format!("reset-request:email:{}", crypto::token_digest(normalised_email))
}

pub fn reset_failures_by_address(address: IpAddr) -> String {
    format!("reset-fail:ip:{}", crate::auth::address_key(address))
}

pub fn activation_failures_by_address(address: IpAddr) -> String {
    format!("activate-fail:ip:{}", crate::auth::address_key(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_cannot_collide_and_secrets_are_digested() {
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        let keys = [
            authorization_code("x"),
            interaction("x"),
            activation("x"),
            logout("x"),
            otp_code("x"),
            otp_tries("x"),
            otp_sends_by_account("x"),
            otp_sends_by_phone("+31612345678"),
            factor_failures("x"),
            passkey_ceremony("x"),
            signin_failures_by_username("x"),
            signin_failures_by_device("x"),
            signin_failures_by_address(address),
            signin_throttle_recorded(address),
            known_device("x"),
            reset_requests_by_address(address),
            reset_requests_by_mailbox("a@b.nl"),
            reset_failures_by_address(address),
            activation_failures_by_address(address),
            machine_tokens_recorded("x", "profile"),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        assert!(!otp_sends_by_phone("+31612345678").contains("612345678"));
        assert!(!reset_requests_by_mailbox("a@b.nl").contains("b.nl"));
    }
}
