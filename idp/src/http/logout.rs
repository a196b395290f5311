//! `/logout` (RP-Initiated Logout 1.0) and its confirmation.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::{Deserialize, Serialize};

use super::error::{internal_page, page, render};
use super::{extract, redirect};
use crate::app::AppState;
use crate::audit::Actor;
use crate::auth::session;
use crate::crypto;
use crate::oidc::logout::{self, LogoutRejection, LogoutRequest};
use crate::oidc::paths;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::LOGOUT, get(logout_endpoint).post(logout_endpoint))
        .route("/logout/confirm", post(confirm))
}

/// A logout waiting for the user's confirmation.
#[derive(Serialize, Deserialize)]
struct Pending {
    request: LogoutRequest,
    csrf: String,
    binding: String,
}

fn pending_key(id: &str) -> String {
    crate::kv::keys::logout(id)
}

async fn logout_endpoint(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let fallback = extract::locale(&headers, None);
    if method == Method::POST {
        return match extract::post_as_get(paths::LOGOUT, &headers, &body) {
            Some(location) => (jar, redirect::see_other(&location)).into_response(),
            None => page(&state, fallback, StatusCode::BAD_REQUEST, "error_bad_request"),
        };
    }
    let Ok(params) = extract::query_params(query.as_deref()) else {
        return page(&state, fallback, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let locale = extract::locale(&headers, params.get("ui_locales"));
    let now = state.clock.unix();
    let request = match logout::validate(&state, &params, now).await {
        Ok(r) => r,
        Err(LogoutRejection::UnregisteredRedirect) => {
            return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_redirect")
        }
        Err(LogoutRejection::UnknownClient) => {
            return page(&state, locale, StatusCode::BAD_REQUEST, "error_unknown_client")
        }
        Err(LogoutRejection::InvalidHint | LogoutRejection::Malformed) => {
            return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request")
        }
    };
    let session = match session::find(&state, jar.get(session::cookie_name(&state)).map(|c| c.value()), now).await {
        Ok(s) => s,
        Err(e) => return internal_page(&state, locale, e),
    };
    let Some(session) = session else {
        return done(&state, locale, jar, &request);
    };
    if request.hinted_sid.as_deref() == Some(session.id.as_str()) {
        if let Err(e) = session::end(&state, &session, Actor::person(&session.account_id), now).await {
            return internal_page(&state, locale, e);
        }
        return done(&state, locale, jar, &request);
    }
    // No proof that the portal speaks for this session: ask the user.
    let (jar, binding) = extract::binding(&state, jar);
    let id = crypto::random_token(16);
    let pending = Pending { request, csrf: crypto::random_token(32), binding: crypto::token_digest(&binding) };
    let json = serde_json::to_string(&pending).expect("logout serialises");
    if let Err(e) = state.kv.put(&pending_key(&id), &json, state.config.session.interaction_ttl_secs).await {
        return internal_page(&state, locale, e);
    }
    let context = serde_json::json!({ "logout": id, "csrf": pending.csrf });
    (jar, render(&state, locale, StatusCode::OK, "logout", &context)).into_response()
}

async fn confirm(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let locale = extract::locale(&headers, None);
    let Ok(form) = extract::form(&headers, &body) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let id = form.get("logout").unwrap_or_default();
    let pending = match state.kv.get(&pending_key(id)).await {
        Ok(Some(json)) => serde_json::from_str::<Pending>(&json).ok(),
        Ok(None) => None,
        Err(e) => return internal_page(&state, locale, e),
    };
    let Some(pending) = pending.filter(|p| {
        crypto::constant_time_eq(p.csrf.as_bytes(), form.get("csrf").unwrap_or_default().as_bytes())
            && extract::binding_matches(&state, &jar, &p.binding)
    }) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "login_expired");
    };
    let _ = state.kv.delete(&pending_key(id)).await;
    let locale = extract::locale(&headers, pending.request.ui_locales.as_deref());
    let now = state.clock.unix();
    match session::find(&state, jar.get(session::cookie_name(&state)).map(|c| c.value()), now).await {
        Ok(Some(s)) => {
            if let Err(e) = session::end(&state, &s, Actor::person(&s.account_id), now).await {
                return internal_page(&state, locale, e);
            }
        }
        Ok(None) => {}
        Err(e) => return internal_page(&state, locale, e),
    }
    done(&state, locale, jar, &pending.request)
}

/// Clears the cookie and returns to the portal, or shows "you are signed out".
fn done(state: &AppState, locale: Locale, jar: CookieJar, request: &LogoutRequest) -> Response {
    let jar = jar.remove(Cookie::build(session::cookie_name(state)).path("/").secure(state.is_https()));
    match request.return_location() {
        Some(location) => (jar, redirect::see_other(&location)).into_response(),
        None => (jar, render(state, locale, StatusCode::OK, "logged_out", &serde_json::json!({}))).into_response(),
    }
}
