//! Codes the IdP sends: the mailed login token and SMS or voice codes.
//!
//! A sent code belongs to one sign-in attempt (the interaction) and is kept in the key-value
//! store as a keyed digest, never as itself. It lives `factors.code_ttl_secs` (at most ten
//! minutes), works once, and dies after `factors.code_tries` wrong answers. Every answer first
//! takes one of those tries, atomically, and only then is compared, so parallel guesses cannot
//! test more codes than the limit.

use serde::{Deserialize, Serialize};

use super::factor_key::FactorKey;
use super::levels::{Channel, Method};
use crate::app::Deps;
use crate::clock::UnixTime;
use crate::kv::KvError;

/// Capitals that cannot be mistaken for each other or for digits (no B/8, I/1, O/0, S/5, Z/2).
pub const MAIL_ALPHABET: &[u8] = b"ACDEFGHJKLMNPQRTUVWXY";
pub const MAIL_CODE_LEN: usize = 6;
pub const PHONE_CODE_LEN: usize = 6;

/// A code that was sent, as kept while the person types it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentCode {
    /// The account it was sent for: it proves nothing for another one.
    pub account_id: String,
    pub digest: String,
    pub method: Method,
    pub channel: Channel,
    /// Where it went (the factor id for a phone; empty for mail).
    pub factor_id: String,
    pub expires_at: UnixTime,
}

/// The outcome of an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Right(Method, Channel, String),
    Wrong,
    /// No code is waiting (never sent, expired, used, or voided by too many tries).
    NoCode,
    /// The tries of this code are used up: it is void now.
    Exhausted,
}

fn code_key(interaction: &str) -> String {
    crate::kv::keys::otp_code(interaction)
}

fn tries_key(interaction: &str) -> String {
    crate::kv::keys::otp_tries(interaction)
}

/// Normalises what was typed: spaces, dashes and line breaks dropped, capitals.
pub fn normalise(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_uppercase).collect()
}

pub fn new_mail_code() -> String {
    crate::crypto::random_code(MAIL_ALPHABET, MAIL_CODE_LEN)
}

pub fn new_phone_code() -> String {
    crate::crypto::random_code(b"0123456789", PHONE_CODE_LEN)
}

/// Keeps a newly sent code for the interaction, replacing an earlier one (with fresh tries).
#[allow(clippy::too_many_arguments)]
pub async fn remember(
    deps: &Deps,
    key: &FactorKey,
    interaction: &str,
    account_id: &str,
    code: &str,
    method: Method,
    channel: Channel,
    factor_id: &str,
    now: UnixTime,
) -> Result<(), KvError> {
    let ttl = deps.config.factors.code_ttl_secs;
    let sent = SentCode {
        account_id: account_id.to_string(),
        digest: key.digest("otp", &normalise(code)),
        method,
        channel,
        factor_id: factor_id.to_string(),
        expires_at: now + ttl,
    };
    deps.kv.delete(&tries_key(interaction)).await?;
    deps.kv.put(&code_key(interaction), &serde_json::to_string(&sent).expect("serialises"), ttl).await
}

/// The code waiting for this interaction and account, if any.
pub async fn waiting(
    deps: &Deps,
    interaction: &str,
    account_id: &str,
    now: UnixTime,
) -> Result<Option<SentCode>, KvError> {
    Ok(deps
        .kv
        .get(&code_key(interaction))
        .await?
        .and_then(|json| serde_json::from_str::<SentCode>(&json).ok())
        .filter(|c| now < c.expires_at && c.account_id == account_id))
}

/// Forgets whatever was sent for this interaction (another person signs in with it).
pub async fn forget(deps: &Deps, interaction: &str) -> Result<(), KvError> {
    deps.kv.delete(&code_key(interaction)).await?;
    deps.kv.delete(&tries_key(interaction)).await
}

/// Checks an answer for `account_id`: takes a try, then compares; a right answer uses the code up.
pub async fn check(
    deps: &Deps,
    key: &FactorKey,
    interaction: &str,
    account_id: &str,
    answer: &str,
    now: UnixTime,
) -> Result<Checked, KvError> {
    let Some(sent) = waiting(deps, interaction, account_id, now).await? else {
        return Ok(Checked::NoCode);
    };
    let tries = deps.kv.incr(&tries_key(interaction), deps.config.factors.code_ttl_secs).await?;
    if tries > u64::from(deps.config.factors.code_tries) {
        deps.kv.delete(&code_key(interaction)).await?;
        return Ok(Checked::Exhausted);
    }
    let digest = key.digest("otp", &normalise(answer));
    if !crate::crypto::constant_time_eq(digest.as_bytes(), sent.digest.as_bytes()) {
        if tries == u64::from(deps.config.factors.code_tries) {
            deps.kv.delete(&code_key(interaction)).await?;
            return Ok(Checked::Exhausted);
        }
        return Ok(Checked::Wrong);
    }
    // Single use: of two right answers racing, only the one that takes the code wins.
    match deps.kv.take(&code_key(interaction)).await? {
        Some(_) => Ok(Checked::Right(sent.method, sent.channel, sent.factor_id)),
        None => Ok(Checked::NoCode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..50 {
            let code = new_mail_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| MAIL_ALPHABET.contains(&b)));
        }
        assert_eq!(normalise(" cgm dpp\n"), "CGMDPP");
        assert_eq!(normalise("123-456"), "123456");
    }
}
