//! The single-sign-on session: a random cookie value whose SHA-256 names a row in `sessions`.
//! A new value is issued at every sign-in (no session fixation); sign-out ends the row.

use crate::app::AppState;
use crate::auth::levels::{self, FactorUse};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{AccountId, SessionId};
use crate::store::{Session, StoreError};

/// The cookie name: with the `__Host-` prefix when served over https (RFC 6265bis §4.1.3.2).
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.is_https() {
        "__Host-pw_session"
    } else {
        "pw_session"
    }
}

/// Starts a session for the factors proved; returns the cookie value (only ever held by the
/// browser) and the row. `auth_time` is when the person signed in (earlier than `now` when an
/// existing session only added a factor).
pub async fn start(
    state: &AppState,
    account: &AccountId,
    factors: Vec<FactorUse>,
    auth_time: UnixTime,
    now: UnixTime,
) -> Result<(String, Session), StoreError> {
    let token = crypto::random_token(32);
    let session = Session {
        id: SessionId(crypto::random_token(16)),
        token_digest: crypto::token_digest(&token),
        account_id: account.clone(),
        auth_time,
        amr: levels::amr(&factors),
        acr: levels::level(&factors).acr().to_string(),
        factors,
        created_at: now,
        expires_at: now + state.config.session.ttl_secs,
        ended_at: None,
    };
    state.store.create_session(&session).await?;
    Ok((token, session))
}

/// The active session a cookie value names, if any.
pub async fn find(state: &AppState, cookie: Option<&str>, now: UnixTime) -> Result<Option<Session>, StoreError> {
    let Some(token) = cookie.filter(|t| t.len() <= 128) else {
        return Ok(None);
    };
    let session = state.store.session_by_token_digest(&crypto::token_digest(token)).await?;
    Ok(session.filter(|s| s.is_active(now)))
}

/// A new sign-in in a browser that already had a session: the old cookie value stops working
/// (no session fixation). When the same person signed in again, the portals' grants move to the
/// new session, so they survive a re-authentication; when someone else signed in, they end.
pub async fn replace(state: &AppState, previous: &Session, next: &Session, now: UnixTime) -> Result<(), StoreError> {
    if previous.account_id == next.account_id {
        // Move first: if ending then fails, the grants are already safe with the new session.
        state.store.move_grants(&previous.id, &next.id).await?;
    }
    end(state, &previous.id, now).await
}

/// Ends a session, revokes the grants issued under it and voids its unredeemed codes.
pub async fn end(state: &AppState, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
    state.store.end_session(id, now).await?;
    state.note_revocations().await
}
