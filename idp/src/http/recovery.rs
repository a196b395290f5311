//! "Wachtwoord vergeten?": `/wachtwoord-vergeten` asks for the address and always gives the
//! same answer; `/wachtwoord-herstellen?token=…` (the mailed link) sets the new password.

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
use crate::auth::recovery::{self, Reset};
use crate::domain::Secret;
use crate::oidc::params::Params;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/wachtwoord-vergeten", get(forgot_form).post(forgot_submit))
        .route("/wachtwoord-herstellen", get(reset_form).post(reset_submit))
}

/// Requests per client address and per e-mail address per window: enough for a person, too few
/// to flood someone's mailbox.
const MAX_REQUESTS_PER_IP: u64 = 10;
const MAX_REQUESTS_PER_EMAIL: u64 = 3;
const MAX_BAD_LINKS_PER_IP: u64 = 20;

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
    if crate::activation::parse_email(email).is_none() {
        return again(jar, "activate_bad_email");
    }
    let window = 3600;
    let by_ip = state
        .kv
        .incr(&crate::kv::keys::reset_requests_by_address(extract::client_ip(&state, peer, &headers)), window)
        .await;
    let by_email = state
        .kv
        .incr(&crate::kv::keys::reset_requests_by_mailbox(&crate::activation::normalise_email(email)), window)
        .await;
    match (by_ip, by_email) {
        (Ok(ip), Ok(mail)) if ip <= MAX_REQUESTS_PER_IP && mail <= MAX_REQUESTS_PER_EMAIL => {
            // The work (lookup, rendering, writing) happens after the answer, so how long the
            // answer takes does not tell whether the address is known.
            let (state, email, now) = (state.clone(), email.to_string(), state.clock.unix());
            let background = state.clone();
            background.in_background(async move {
                if let Err(e) = recovery::request(&state, &email, locale, now).await {
                    tracing::error!(error = %e, "password reset request failed");
                }
            });
        }
        // Over the limit: no mail, and the same answer, so the limit does not reveal the address.
        (Ok(_), Ok(_)) => tracing::warn!("password reset requests throttled"),
        (Err(e), _) | (_, Err(e)) => return internal_page(&state, locale, e),
    }
    let sent = ForgotPage { sent: true, ..ForgotPage::default() };
    render(&state, locale, StatusCode::OK, "forgot", &sent)
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
    if bad_links_exceeded(&state, peer, &headers).await {
        return page(&state, locale, StatusCode::TOO_MANY_REQUESTS, "login_throttled");
    }
    match recovery::open(&state, token, state.clock.unix()).await {
        Ok(Some((account, rules))) => {
            reset_page(&state, locale, StatusCode::OK, token, &account.username, &rules, &Problems::default())
        }
        Ok(None) => invalid_link(&state, peer, &headers, locale).await,
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
    if bad_links_exceeded(&state, peer, &headers).await {
        return page(&state, locale, StatusCode::TOO_MANY_REQUESTS, "login_throttled");
    }
    let token = form.get("token").unwrap_or_default();
    let password = Secret::new(form.get("password").unwrap_or_default().to_string());
    let repeated = form.get("password_repeat").unwrap_or_default();
    let now = state.clock.unix();
    match recovery::reset(&state, token, password, repeated, locale, now).await {
        Ok(Reset::Done(_)) => render(&state, locale, StatusCode::OK, "reset_done", &serde_json::json!({})),
        Ok(Reset::Refused(problems)) => match recovery::open(&state, token, now).await {
            Ok(Some((account, rules))) => {
                reset_page(&state, locale, StatusCode::BAD_REQUEST, token, &account.username, &rules, &problems)
            }
            Ok(None) => invalid_link(&state, peer, &headers, locale).await,
            Err(e) => internal_page(&state, locale, e),
        },
        Ok(Reset::Invalid) => invalid_link(&state, peer, &headers, locale).await,
        Err(e) => internal_page(&state, locale, e),
    }
}

fn bad_link_key(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    crate::kv::keys::reset_failures_by_address(extract::client_ip(state, peer, headers))
}

async fn bad_links_exceeded(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    extract::limit_reached(state, &bad_link_key(state, peer, headers), MAX_BAD_LINKS_PER_IP).await.unwrap_or(false)
}

/// A wrong, used or expired link: counted per address, answered with what to do next.
async fn invalid_link(state: &AppState, peer: SocketAddr, headers: &HeaderMap, locale: Locale) -> Response {
    let _ = state.kv.incr(&bad_link_key(state, peer, headers), state.config.signin.window_secs).await;
    page(state, locale, StatusCode::BAD_REQUEST, "reset_invalid")
}
