//! How errors become responses. The policy (also in docs/architecture.md):
//! - token, introspection and revocation endpoints answer RFC 6749 §5.2 JSON;
//! - userinfo answers RFC 6750 §3 `WWW-Authenticate`;
//! - the authorization endpoint redirects to the portal when the redirect URI is trusted, and shows
//!   a page otherwise;
//! - internal failures are logged once, in full, and answered with a generic message.
//!
//! No response body ever contains a secret, a token, or the text of an internal error.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::oidc::error::{ErrorCode, OAuthError, ProtocolError};
use crate::ui::Locale;

/// RFC 6749 §5.2 JSON error.
pub fn oauth_json(error: &OAuthError, basic_auth_used: bool) -> Response {
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = (
        status,
        no_store(),
        axum::Json(json!({ "error": error.code.as_str(), "error_description": error.description })),
    )
        .into_response();
    if error.code == ErrorCode::InvalidClient && basic_auth_used {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"poortwachter\""));
    }
    response
}

/// A protocol use case's error at a JSON endpoint.
pub fn protocol_json(error: ProtocolError, basic_auth_used: bool) -> Response {
    match error {
        ProtocolError::OAuth(e) => oauth_json(&e, basic_auth_used),
        e @ ProtocolError::Internal(_) => {
            tracing::error!(cause = %crate::error_chain(&e), "request failed");
            oauth_json(&OAuthError::server_error(), false)
        }
    }
}

/// Headers for responses that hold tokens or personal data (RFC 6749 §5.1).
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// An HTML error page with a translated message (`message_key` names a text in the locale files).
pub fn page(state: &AppState, locale: Locale, status: StatusCode, message_key: &str) -> Response {
    let message = state.templates.text(locale, message_key);
    render(state, locale, status, "error", &json!({ "message": message }))
}

/// Renders a page; a template failure is logged and becomes a plain 500.
pub fn render(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    name: &str,
    context: &impl serde::Serialize,
) -> Response {
    match state.templates.render(name, locale, context) {
        Ok(html) => (status, no_store(), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = ?e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// An internal failure while serving a page (a use case's error, which keeps its cause): logged
/// once, in full, and answered with the generic error page.
pub fn internal_page(state: &AppState, locale: Locale, cause: impl std::error::Error) -> Response {
    tracing::error!(cause = %crate::error_chain(&cause), "request failed");
    page(state, locale, StatusCode::INTERNAL_SERVER_ERROR, "error_server")
}
