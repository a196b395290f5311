//! OpenID Connect Back-Channel Logout 1.0: when a session ends (sign-out, another person signing
//! in on the browser, a password reset, an operator's reset) or a representation ends, every
//! portal that registered a `backchannel_logout_uri` and had a grant in that session receives a
//! logout token there, server to server. The notices are queued in the transaction that ends the
//! session (`store::sql::logouts`), delivered from an outbox like mail — one node sends each,
//! retried with backoff until the portal answers 2xx — and each token is minted when it is sent,
//! so its `exp` is fresh.

use serde::Serialize;

use super::keys::KeyError;
use crate::app::AppState;
use crate::clock::UnixTime;
use crate::crypto;
use crate::store::{QueuedLogout, StoreError};

/// The `typ` of logout tokens (§2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The event a logout token carries (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is valid this long after it is sent (the specification recommends at most two
/// minutes).
pub const TOKEN_TTL_SECS: i64 = 120;
/// Attempts before a notice is given up: with the mail outbox's backoff (30 s, 2 min, 8 min,
/// 32 min, then hourly) the last is about eight hours after the first.
pub const MAX_ATTEMPTS: u32 = 12;

/// Logout token claims (§2.4); never a `nonce`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    pub events: serde_json::Value,
    pub sid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackChannelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("signing stopped")]
    Stopped,
}

/// What one round delivered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub failed: usize,
}

/// A client for the portals' logout endpoints: short timeouts (a portal that hangs does not hold
/// the round up for long), no redirects (the registered URI is the only place a token goes).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .connect_timeout(std::time::Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Sends the due notices, one at a time, each leased (and its token minted) at its own moment: a
/// slow portal cannot make a later lease run out before its notice is sent.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<Delivered, BackChannelError> {
    let mut delivered = Delivered::default();
    for _ in 0..20 {
        let now = state.clock.unix();
        let Some(logout) = state.store.claim_due_logouts(now, 60, 1).await?.pop() else { break };
        match send(state, http, &logout, now).await? {
            Ok(()) => {
                state.store.mark_logout_sent(&logout.id, now).await?;
                delivered.sent += 1;
            }
            Err(why) => {
                let attempts = logout.attempts + 1;
                let next = (attempts < MAX_ATTEMPTS).then(|| now + crate::mail::backoff(attempts));
                tracing::warn!(portal = %logout.client_id, attempts, error = %why, "back-channel logout not delivered");
                state.store.retry_logout(&logout.id, next, &why).await?;
                delivered.failed += 1;
            }
        }
    }
    Ok(delivered)
}

/// Mints the token and posts it (§2.5: `logout_token` in a form); the inner error says why the
/// portal did not take it.
async fn send(
    state: &AppState,
    http: &reqwest::Client,
    logout: &QueuedLogout,
    now: UnixTime,
) -> Result<Result<(), String>, BackChannelError> {
    let Some(client) = state.client(logout.client_id.as_str()).await? else {
        return Ok(Err("the portal is no longer registered".into()));
    };
    let claims = LogoutTokenClaims {
        iss: state.issuer.clone(),
        sub: logout.subject.clone(),
        aud: client.id.0.clone(),
        iat: now,
        exp: now + TOKEN_TTL_SECS,
        jti: crypto::random_token(16),
        events: serde_json::json!({ EVENT: {} }),
        sid: logout.session_id.0.clone(),
    };
    let payload = serde_json::to_vec(&claims).expect("claims serialise");
    let alg = client.id_token_alg;
    let keys = state.key_ring();
    // RSA signing takes about a millisecond: off the async threads, as for ID tokens.
    let token = tokio::task::spawn_blocking(move || keys.sign(alg, LOGOUT_TOKEN_TYP, &payload, now))
        .await
        .map_err(|_| BackChannelError::Stopped)??;
    let answer = http.post(&logout.uri).form(&[("logout_token", token.as_str())]).send().await;
    Ok(match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the portal answered {}", response.status().as_u16())),
        // The error names the URI, never the token.
        Err(e) => Err(format!("{}", e.without_url())),
    })
}

/// Reads a logout token this IdP signed (for tests and portals written in Rust alike).
pub fn read_logout_token(keys: &super::keys::KeyRing, token: &str, now: UnixTime) -> Option<LogoutTokenClaims> {
    let (payload, header) = keys.verify(token, now)?;
    if header.token_type() != Some(LOGOUT_TOKEN_TYP) {
        return None;
    }
    serde_json::from_slice(&payload).ok()
}
