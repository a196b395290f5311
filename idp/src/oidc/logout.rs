//! RP-Initiated Logout 1.0. The portal sends the browser here, ideally with `id_token_hint`;
//! we end the SSO session and return the browser to a *registered* `post_logout_redirect_uri`.
//! Without a hint that matches the current session we ask the user first, so a third-party
//! page cannot sign people out silently (§2, §6). The logout waiting for that answer is kept in
//! `kv` (`kv::keys::logout`), bound to the browser and the form like a sign-in.
//!
//! [`request`] and [`confirm`] are what the pages call; each reads the clock once.

use serde::{Deserialize, Serialize};

use super::params::Params;
use super::tokens;
use crate::app::AppState;
use crate::audit::Actor;
use crate::auth::session;
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::RedirectUri;
use crate::kv::{keys, KvError};
use crate::store::StoreError;

/// A checked logout request, kept while the user confirms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogoutRequest {
    /// The session the hint names (`sid`), when a valid hint was given.
    pub hinted_sid: Option<String>,
    pub post_logout_redirect_uri: Option<RedirectUri>,
    pub state: Option<String>,
    pub ui_locales: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRejection {
    /// The hint is not an ID token of ours.
    InvalidHint,
    /// `client_id` and the hint's audience disagree, or the client is unknown.
    UnknownClient,
    /// The post-logout URI is not registered for the client (or no client was identified).
    UnregisteredRedirect,
    Malformed,
}

pub async fn validate(state: &AppState, params: &Params, now: UnixTime) -> Result<LogoutRequest, LogoutRejection> {
    if params.reject_duplicates().is_err() {
        return Err(LogoutRejection::Malformed);
    }
    let hint = match params.get("id_token_hint") {
        Some(token) => Some(
            tokens::read_id_token_hint(&state.keys(), &state.issuer, token, now).ok_or(LogoutRejection::InvalidHint)?,
        ),
        None => None,
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(h)) if id != h.aud => return Err(LogoutRejection::UnknownClient),
        (Some(id), _) => Some(id.to_string()),
        (None, Some(h)) => Some(h.aud.clone()),
        (None, None) => None,
    };
    let post_logout_redirect_uri = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let id = client_id.as_deref().ok_or(LogoutRejection::UnregisteredRedirect)?;
            let client = state.client(id).await.ok().flatten().ok_or(LogoutRejection::UnknownClient)?;
            let registered = client.post_logout_redirect_uris.iter().find(|r| r.as_str() == uri);
            Some(registered.cloned().ok_or(LogoutRejection::UnregisteredRedirect)?)
        }
    };
    Ok(LogoutRequest {
        hinted_sid: hint.and_then(|h| h.sid),
        post_logout_redirect_uri,
        state: params.get("state").map(str::to_string),
        ui_locales: params.get("ui_locales").map(str::to_string),
    })
}

impl LogoutRequest {
    /// Where the browser goes after signing out, if the portal asked and may.
    pub fn return_location(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_ref()?;
        let params: Vec<(&str, &str)> = self.state.as_deref().map(|s| ("state", s)).into_iter().collect();
        Some(uri.with_params(params))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// A logout waiting for the person's confirmation.
#[derive(Serialize, Deserialize)]
struct Pending {
    request: LogoutRequest,
    csrf: String,
    /// Digest of the browser's binding cookie.
    binding: String,
}

/// What became of a logout request.
#[derive(Debug)]
pub enum Requested {
    Rejected(LogoutRejection),
    /// The session ended (or there was none): clear the cookie, then [`LogoutRequest::return_location`].
    SignedOut(LogoutRequest),
    /// No proof that the portal speaks for this session: ask the person, with a form that names
    /// the kept logout and carries its CSRF token.
    Ask {
        id: String,
        csrf: String,
    },
}

/// A logout request arrives (`session`: the browser's session cookie; `binding`: its binding
/// cookie's value, which a logout kept for confirmation is bound to).
pub async fn request(
    state: &AppState,
    params: &Params,
    session: Option<&str>,
    binding: &str,
) -> Result<Requested, LogoutError> {
    let now = state.clock.unix();
    let request = match validate(state, params, now).await {
        Ok(r) => r,
        Err(rejection) => return Ok(Requested::Rejected(rejection)),
    };
    let Some(session) = session::find(state, session, now).await? else {
        return Ok(Requested::SignedOut(request));
    };
    if request.hinted_sid.as_deref() == Some(session.id.as_str()) {
        session::end(state, &session, Actor::person(&session.account_id), now).await?;
        return Ok(Requested::SignedOut(request));
    }
    let id = crypto::random_token(16);
    let pending = Pending { request, csrf: crypto::random_token(32), binding: crypto::token_digest(binding) };
    let json = serde_json::to_string(&pending).expect("logout serialises");
    state.kv.put(&keys::logout(&id), &json, state.config.session.interaction_ttl_secs).await?;
    Ok(Requested::Ask { id, csrf: pending.csrf })
}

/// What the confirmation came to.
#[derive(Debug)]
pub enum Confirmed {
    /// No such logout for this browser and form (or it was used).
    Expired,
    /// The session ended: clear the cookie, then [`LogoutRequest::return_location`].
    SignedOut(LogoutRequest),
}

/// The person confirms the logout kept under `id` (`csrf`: the form's token; `binding` and
/// `session`: the browser's cookies).
pub async fn confirm(
    state: &AppState,
    id: &str,
    csrf: &str,
    binding: Option<&str>,
    session: Option<&str>,
) -> Result<Confirmed, LogoutError> {
    let now = state.clock.unix();
    let key = keys::logout(id);
    let pending = state.kv.get(&key).await?.and_then(|json| serde_json::from_str::<Pending>(&json).ok());
    let Some(pending) = pending.filter(|p| {
        crypto::constant_time_eq(p.csrf.as_bytes(), csrf.as_bytes()) && crypto::digest_matches(binding, &p.binding)
    }) else {
        return Ok(Confirmed::Expired);
    };
    // Used once; should the delete fail, the logout expires by itself and ending twice does nothing.
    let _ = state.kv.delete(&key).await;
    if let Some(session) = session::find(state, session, now).await? {
        session::end(state, &session, Actor::person(&session.account_id), now).await?;
    }
    Ok(Confirmed::SignedOut(pending.request))
}
