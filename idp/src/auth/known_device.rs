//! Device cookies against lock-out abuse (OWASP, "Slow Down Online Guessing Attacks with Device
//! Cookies"). Wrong passwords from browsers the account does not know share one counter per
//! username, so anyone who knows a username can pause it; a browser that has given the right
//! password for that username before gets a cookie, and its wrong passwords count against a
//! counter of its own. The owner's browser keeps working while the username is paused for everyone
//! else, and a known browser that guesses too often is paused by itself.
//!
//! The cookie holds a random token that stays with the browser (one token serves every account
//! signed in on it, e.g. a family's computer). `kv` holds, per username and token, only keyed
//! digests (HMAC under the factor key): of the token with the username as the key, of the password
//! hash that was current as the value, so after a password change or reset no browser is known
//! any more. The raw token is never stored or logged.

use crate::app::Deps;
use crate::kv::KvResult;
use crate::store::Account;

/// Length of a token from `crypto::random_token(32)` (base64url).
const TOKEN_LEN: usize = 43;

/// The cookie's name (`__Host-` over https, so no other site or subdomain can set it).
pub fn cookie_name(deps: &Deps) -> &'static str {
    if deps.is_https() {
        "__Host-pw_known"
    } else {
        "pw_known"
    }
}

/// A browser known for one username: where its own failures are counted.
#[derive(Debug)]
pub struct KnownDevice {
    digest: String,
}

impl KnownDevice {
    /// The key of this browser's failure counter for the username.
    pub fn failure_key(&self) -> String {
        crate::kv::keys::signin_failures_by_device(&self.digest)
    }
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn digest(deps: &Deps, normalised_username: &str, token: &str) -> String {
    deps.factor_key.digest("signin-device", &format!("{token}:{normalised_username}"))
}

fn registration_key(digest: &str) -> String {
    crate::kv::keys::known_device(digest)
}

/// Which password the browser gave: a keyed digest of the account's current hash.
fn password_mark(deps: &Deps, account: &Account) -> Option<String> {
    account.password_hash.as_ref().map(|hash| deps.factor_key.digest("signin-device-password", hash.expose()))
}

/// The browser presenting `token`, if it gave `account`'s current password for this username
/// before. `account` is the account the username names (if any); the lookup is the same either
/// way, so its time does not tell whether the username exists.
pub async fn recognise(
    deps: &Deps,
    normalised_username: &str,
    account: Option<&Account>,
    token: Option<&str>,
) -> KvResult<Option<KnownDevice>> {
    let Some(token) = token.filter(|t| well_formed(t)) else {
        return Ok(None);
    };
    let digest = digest(deps, normalised_username, token);
    let stored = deps.kv.get(&registration_key(&digest)).await?;
    let same_password = match (stored, account.and_then(|a| password_mark(deps, a))) {
        (Some(stored), Some(current)) => crate::crypto::constant_time_eq(stored.as_bytes(), current.as_bytes()),
        _ => false,
    };
    Ok(same_password.then_some(KnownDevice { digest }))
}

/// Remembers that the browser presenting `token` (a new one when it has none) gave `account`'s
/// password for `normalised_username`; returns the token for the cookie.
pub async fn remember(
    deps: &Deps,
    normalised_username: &str,
    account: &Account,
    token: Option<&str>,
) -> KvResult<String> {
    let token = match token.filter(|t| well_formed(t)) {
        Some(t) => t.to_string(),
        None => crate::crypto::random_token(32),
    };
    if let Some(mark) = password_mark(deps, account) {
        let ttl = deps.config.signin.device_cookie_days * 24 * 3600;
        deps.kv.put(&registration_key(&digest(deps, normalised_username, &token)), &mark, ttl).await?;
    }
    Ok(token)
}
