//! The single-sign-on session: a random cookie value whose SHA-256 names a row in `sessions`.
//! A new value is issued at every sign-in (no session fixation); sign-out ends the row.

use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::auth::levels::{self, FactorUse, Method};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{ClientId, SessionId};
use crate::store::{Account, Session, StoreError};

/// The cookie name: with the `__Host-` prefix when served over https (RFC 6265bis §4.1.3.2).
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.is_https() {
        "__Host-pw_session"
    } else {
        "pw_session"
    }
}

/// What a sign-in proved and where it came from.
pub struct SignedIn<'a> {
    pub account: &'a Account,
    pub factors: Vec<FactorUse>,
    /// When the person signed in (earlier than now when an existing session only added a factor).
    pub auth_time: UnixTime,
    /// The session this browser had, replaced by the new one.
    pub previous: Option<&'a Session>,
    /// The portal the sign-in is for, if any (none for the account pages).
    pub portal: Option<&'a ClientId>,
}

/// Starts a session for the factors proved, in one transaction with its audit records (the
/// sign-in, and each second factor used that the previous session had not proved) and with the
/// replacement of the session this browser had: when the same person signed in again, the portals'
/// grants move to the new session, so they survive a re-authentication; when someone else signed
/// in, the old session ends with its grants. A new cookie value at every sign-in (no session
/// fixation). Returns the cookie value (only ever held by the browser) and the row.
pub async fn start(state: &AppState, sign_in: SignedIn<'_>, now: UnixTime) -> Result<(String, Session), StoreError> {
    let SignedIn { account, factors, auth_time, previous, portal } = sign_in;
    let token = crypto::random_token(32);
    let session = Session {
        id: SessionId(crypto::random_token(16)),
        token_digest: crypto::token_digest(&token),
        account_id: account.id.clone(),
        acting_for: None,
        auth_time,
        amr: levels::amr(&factors),
        acr: levels::level(&factors).acr().to_string(),
        factors,
        created_at: now,
        expires_at: now + state.config.session.ttl_secs,
        ended_at: None,
        might_represent: true,
    };
    let mut tx = state.store.begin().await?;
    tx.create_session(&session).await?;
    let mut ended_other = false;
    if let Some(previous) = previous {
        if previous.account_id == session.account_id {
            tx.move_grants(&previous.id, &session.id).await?;
        } else {
            ended_other = true;
        }
        if tx.end_session(&previous.id, now).await? && ended_other {
            // Someone else signed in on this browser: the other person's session ends, recorded
            // for them (its grants are revoked with it).
            let event = Event::new(EventType::SignedOut, Actor::system())
                .acting_for(previous.principal().subject.audit_id().to_string())
                .object("session", previous.id.as_str())
                .detail("reason", "another_account_signed_in");
            state.audit.append(tx.as_mut(), &event, now).await?;
        }
    }
    let proved_before = |f: &FactorUse| previous.is_some_and(|p| p.account_id == account.id && p.factors.contains(f));
    // A trusted computer stands in with the factor it once proved, dated then: before this
    // sign-in began. It is named in the sign-in's record, not recorded as a factor used now.
    let remembered: Vec<&str> = session
        .factors
        .iter()
        .filter(|f| f.method != Method::Pwd && f.at < auth_time)
        .map(|f| f.method.amr())
        .collect();
    let typed_now = |f: &&FactorUse| f.method != Method::Pwd && f.at >= auth_time && !proved_before(f);
    for used in session.factors.iter().filter(typed_now) {
        // A recovery code records its own use, with the code it used up.
        if used.method == Method::Rec {
            continue;
        }
        let event = Event::new(EventType::SecondFactorUsed, Actor::account(account))
            .object("account", account.id.as_str())
            .detail("method", used.method.amr());
        state.audit.append(tx.as_mut(), &with_portal(event, portal), now).await?;
    }
    let event = Event::new(EventType::SigninSucceeded, Actor::account(account))
        .object("session", session.id.as_str())
        .detail("acr", session.acr.clone())
        .detail("amr", session.amr.clone())
        .detail("step_up", previous.is_some_and(|p| p.account_id == account.id))
        .detail("trusted_device", remembered);
    state.audit.append(tx.as_mut(), &with_portal(event, portal), now).await?;
    tx.commit().await?;
    if previous.is_some() {
        state.note_revocations().await?;
    }
    if ended_other {
        tracing::info!("a session of another account in this browser ended");
    }
    Ok((token, session))
}

fn with_portal(event: Event, portal: Option<&ClientId>) -> Event {
    match portal {
        Some(id) => event.portal(id.as_str()),
        None => event,
    }
}

/// The active session a cookie value names, if any.
pub async fn find(state: &AppState, cookie: Option<&str>, now: UnixTime) -> Result<Option<Session>, StoreError> {
    let Some(token) = cookie.filter(|t| t.len() <= 128) else {
        return Ok(None);
    };
    let session = state.store.session_by_token_digest(&crypto::token_digest(token)).await?;
    Ok(session.filter(|s| s.is_active(now)))
}

/// Signs out: ends the session, revokes the grants issued under it and voids its unredeemed codes,
/// with its audit record. `by` is who asked: the person, or a portal's logout request.
pub async fn end(state: &AppState, session: &Session, by: Actor, now: UnixTime) -> Result<(), StoreError> {
    let mut tx = state.store.begin().await?;
    if !tx.end_session(&session.id, now).await? {
        return Ok(());
    }
    let subject = session.principal().subject.audit_id().to_string();
    let event = Event::new(EventType::SignedOut, by).acting_for(subject).object("session", session.id.as_str());
    state.audit.append(tx.as_mut(), &event, now).await?;
    tx.commit().await?;
    state.note_revocations().await
}
