//! `/logout` (RP-Initiated Logout 1.0) and its confirmation; the use cases are `oidc::logout`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar};

use super::error::{internal_page, page, render};
use super::{extract, redirect};
use crate::app::AppState;
use crate::auth::session;
use crate::oidc::logout::{self, Confirmed, LogoutRejection, LogoutRequest, Requested};
use crate::oidc::paths;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::LOGOUT, get(logout_endpoint).post(logout_endpoint))
        .route("/logout/confirm", post(confirm))
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
    // The binding cookie is sent only when the logout is kept for confirmation.
    let (bound, binding) = extract::binding(&state, jar.clone());
    match logout::request(&state, &params, extract::session_value(&state, &jar), &binding).await {
        Ok(Requested::SignedOut(request)) => done(&state, locale, jar, &request),
        Ok(Requested::Ask { id, csrf }) => {
            let context = serde_json::json!({ "logout": id, "csrf": csrf });
            (bound, render(&state, locale, StatusCode::OK, "logout", &context)).into_response()
        }
        Ok(Requested::Rejected(rejection)) => {
            let key = match rejection {
                LogoutRejection::UnregisteredRedirect => "error_bad_redirect",
                LogoutRejection::UnknownClient => "error_unknown_client",
                LogoutRejection::InvalidHint | LogoutRejection::Malformed => "error_bad_request",
            };
            page(&state, locale, StatusCode::BAD_REQUEST, key)
        }
        Err(e) => internal_page(&state, locale, e),
    }
}

async fn confirm(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let locale = extract::locale(&headers, None);
    let Ok(form) = extract::form(&headers, &body) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let id = form.get("logout").unwrap_or_default();
    let csrf = form.get("csrf").unwrap_or_default();
    let (binding, session) = (extract::binding_value(&state, &jar), extract::session_value(&state, &jar));
    match logout::confirm(&state, id, csrf, binding, session).await {
        Ok(Confirmed::SignedOut(request)) => {
            let locale = extract::locale(&headers, request.ui_locales.as_deref());
            done(&state, locale, jar, &request)
        }
        Ok(Confirmed::Expired) => page(&state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => internal_page(&state, locale, e),
    }
}

/// Clears the cookie and returns to the portal, or shows "you are signed out".
fn done(state: &AppState, locale: Locale, jar: CookieJar, request: &LogoutRequest) -> Response {
    let jar = jar.remove(Cookie::build(session::cookie_name(state)).path("/").secure(state.is_https()));
    match request.return_location() {
        Some(location) => (jar, redirect::see_other(&location)).into_response(),
        None => (jar, render(state, locale, StatusCode::OK, "logged_out", &serde_json::json!({}))).into_response(),
    }
}
