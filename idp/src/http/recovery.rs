//! "Wachtwoord vergeten?": `/wachtwoord-vergeten` asks for the address and always gives the
//! same answer; `/wachtwoord-herstellen?token=…` (the mailed link) sets the new password. The use
//! cases are `auth::recovery`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::error::{internal_page, page, render};
use super::{extract, password_form};
use crate::activation::account::Problems;
use crate::app::AppState;
use crate::auth::password_rules::PasswordRules;
use crate::auth::recovery::{self, Asked, Chosen, Followed, Opened};
use crate::domain::Secret;
use crate::oidc::params::Params;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/wachtwoord-vergeten", get(forgot_form).post(forgot_submit))
        .route("/wachtwoord-herstellen", get(reset_form).post(reset_submit))
}

/// The form's path, which also names its CSRF token (see `extract::form_csrf`).
const FORGOT: &str = "/wachtwoord-vergeten";

#[derive(Serialize, Default)]
struct ForgotPage<'a> {
    email: &'a str,
    csrf: String,
    sent: bool,
    error: Option<String>,
}

/// The form (again), with this browser's CSRF token.
fn forgot_page(state: &AppState, locale: Locale, jar: CookieJar, status: StatusCode, page: ForgotPage) -> Response {
    let (jar, csrf) = extract::form_csrf(state, jar, FORGOT);
    (jar, render(state, locale, status, "forgot", &ForgotPage { csrf, ..page })).into_response()
}

async fn forgot_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    forgot_page(&state, extract::locale(&headers, None), jar, StatusCode::OK, ForgotPage::default())
}

async fn forgot_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let locale = extract::locale(&headers, None);
    let Ok(form) = extract::form(&headers, &body) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let email = form.get("email").unwrap_or_default().trim();
    let again = |jar, key: &str| {
        let kept = if email.len() > 254 { "" } else { email };
        let page = ForgotPage { email: kept, error: Some(state.templates.text(locale, key)), ..ForgotPage::default() };
        forgot_page(&state, locale, jar, StatusCode::BAD_REQUEST, page)
    };
    if !extract::form_csrf_matches(&state, &jar, FORGOT, form.get("csrf")) {
        return again(jar, "form_expired");
    }
    match recovery::ask(&state, extract::client_ip(&state, peer, &headers), email, locale).await {
        Ok(Asked::Answered) => {
            let sent = ForgotPage { sent: true, ..ForgotPage::default() };
            render(&state, locale, StatusCode::OK, "forgot", &sent)
        }
        Ok(Asked::BadEmail) => again(jar, "activate_bad_email"),
        Err(e) => internal_page(&state, locale, e),
    }
}

#[derive(Serialize)]
struct ResetPage<'a> {
    token: &'a str,
    username: &'a str,
    rules: Vec<password_form::RuleLine>,
    rules_json: String,
    password_errors: Vec<String>,
}

fn reset_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    token: &str,
    username: &str,
    rules: &PasswordRules,
    problems: &Problems,
) -> Response {
    let context = ResetPage {
        token,
        username,
        rules: password_form::rule_lines(state, locale, rules),
        rules_json: password_form::rules_json(rules),
        password_errors: password_form::password_errors(state, locale, rules, problems),
    };
    render(state, locale, status, "reset", &context)
}

async fn reset_form(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let locale = extract::locale(&headers, None);
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes()).unwrap_or_default();
    let token = params.get("token").unwrap_or_default();
    match recovery::follow(&state, extract::client_ip(&state, peer, &headers), token).await {
        Ok(Followed::Open(Opened { account, rules })) => {
            reset_page(&state, locale, StatusCode::OK, token, &account.username, &rules, &Problems::default())
        }
        Ok(Followed::Paused) => page(&state, locale, StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(Followed::Invalid) => page(&state, locale, StatusCode::BAD_REQUEST, "reset_invalid"),
        Err(e) => internal_page(&state, locale, e),
    }
}

async fn reset_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let locale = extract::locale(&headers, None);
    let Ok(form) = extract::form(&headers, &body) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let token = form.get("token").unwrap_or_default();
    let password = Secret::new(form.get("password").unwrap_or_default().to_string());
    let repeated = form.get("password_repeat").unwrap_or_default();
    let ip = extract::client_ip(&state, peer, &headers);
    match recovery::choose(&state, ip, token, password, repeated, locale).await {
        Ok(Chosen::Done) => render(&state, locale, StatusCode::OK, "reset_done", &serde_json::json!({})),
        Ok(Chosen::Refused(Opened { account, rules }, problems)) => {
            reset_page(&state, locale, StatusCode::BAD_REQUEST, token, &account.username, &rules, &problems)
        }
        Ok(Chosen::Paused) => page(&state, locale, StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(Chosen::Invalid) => page(&state, locale, StatusCode::BAD_REQUEST, "reset_invalid"),
        Err(e) => internal_page(&state, locale, e),
    }
}
