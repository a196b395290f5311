//! RP-Initiated Logout 1.0. The portal sends the browser here, ideally with `id_token_hint`;
//! we end the SSO session and return the browser to a *registered* `post_logout_redirect_uri`.
//! Without a hint that matches the current session we ask the user first, so a third-party
//! page cannot sign people out silently (§2, §6).

use serde::{Deserialize, Serialize};

use super::params::Params;
use super::tokens;
use crate::app::AppState;
use crate::clock::UnixTime;
use crate::domain::RedirectUri;

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
