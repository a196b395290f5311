//! Journey A's pages: `/activeren` (e-mail + validation code) and `/activeren/account`
//! (username + password twice); journey B's `/activeren/link` (the birth date). The use cases
//! are `activation::pending` and `activation::link`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::error::{internal_page, page, render};
use super::{extract, password_form};
use crate::activation::account::Problems;
use crate::activation::link::{self, Activation};
use crate::activation::pending::{self, Choice, Finished, Opened, Started};
use crate::app::AppState;
use crate::domain::Secret;
use crate::oidc::params::Params;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/activeren", get(code_form).post(code_submit))
        .route("/activeren/account", get(account_form).post(account_submit))
        .route("/activeren/link", get(link_form).post(link_submit))
}

/// The form's path, which also names its CSRF token (see `extract::form_csrf`).
const CODE_FORM: &str = "/activeren";

#[derive(Serialize, Default)]
struct CodePage<'a> {
    email: &'a str,
    code: &'a str,
    csrf: String,
    error: Option<String>,
}

/// The e-mail + code form (again), with this browser's CSRF token.
fn code_page(state: &AppState, locale: Locale, jar: CookieJar, status: StatusCode, page: CodePage) -> Response {
    let (jar, csrf) = extract::form_csrf(state, jar, CODE_FORM);
    (jar, render(state, locale, status, "activate_code", &CodePage { csrf, ..page })).into_response()
}

async fn code_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    code_page(&state, extract::locale(&headers, None), jar, StatusCode::OK, CodePage::default())
}

async fn code_submit(
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
    let code = form.get("code").unwrap_or_default();
    let again = |jar: CookieJar, status: StatusCode, key: &str| {
        let kept = if email.len() > 254 { "" } else { email };
        let context = CodePage { email: kept, error: Some(state.templates.text(locale, key)), ..CodePage::default() };
        code_page(&state, locale, jar, status, context)
    };
    if !extract::form_csrf_matches(&state, &jar, CODE_FORM, form.get("csrf")) {
        return again(jar, StatusCode::BAD_REQUEST, "form_expired");
    }
    // The binding cookie exists once the form's token matched; the kept activation is bound to it.
    let (bound, binding) = extract::binding(&state, jar.clone());
    match pending::start(&state, extract::client_ip(&state, peer, &headers), email, code, &binding).await {
        Ok(Started::Kept(id)) => (bound, Redirect::to(&format!("/activeren/account?activation={id}"))).into_response(),
        Ok(Started::Missing) => again(jar, StatusCode::BAD_REQUEST, "activate_missing"),
        Ok(Started::BadEmail) => again(jar, StatusCode::BAD_REQUEST, "activate_bad_email"),
        Ok(Started::Paused) => again(jar, StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(Started::Refused) => again(jar, StatusCode::UNAUTHORIZED, "activate_refused"),
        Err(e) => internal_page(&state, locale, e),
    }
}

#[derive(Serialize)]
struct AccountPage<'a> {
    activation: &'a str,
    csrf: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    email: &'a str,
    username: &'a str,
    rules: Vec<password_form::RuleLine>,
    /// The rules for the page's script (the server checks them again).
    rules_json: String,
    username_error: Option<String>,
    password_errors: Vec<String>,
}

fn account_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    opened: &Opened,
    username: &str,
    problems: &Problems,
) -> Response {
    let Opened { csrf, invitation, policy } = opened;
    let password_errors = password_form::password_errors(state, locale, &policy.password_rules, problems);
    let context = AccountPage {
        activation: id,
        csrf,
        given_name: &invitation.given_name,
        family_name: &invitation.family_name,
        email: &invitation.email,
        username,
        rules: password_form::rule_lines(state, locale, &policy.password_rules),
        rules_json: password_form::rules_json(&policy.password_rules),
        username_error: problems.username.map(|key| state.templates.text(locale, key)),
        password_errors,
    };
    render(state, locale, status, "activate_account", &context)
}

async fn account_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let locale = extract::locale(&headers, None);
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes()).unwrap_or_default();
    let id = params.get("activation").unwrap_or_default();
    match pending::open(&state, id, extract::binding_value(&state, &jar)).await {
        Ok(Some(opened)) => account_page(&state, locale, StatusCode::OK, id, &opened, "", &Problems::default()),
        Ok(None) => page(&state, locale, StatusCode::BAD_REQUEST, "activate_expired"),
        Err(e) => internal_page(&state, locale, e),
    }
}

async fn account_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let locale = extract::locale(&headers, None);
    let Ok(form) = extract::form(&headers, &body) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let id = form.get("activation").unwrap_or_default();
    let username = form.get("username").unwrap_or_default();
    let choice = Choice {
        id,
        csrf: form.get("csrf").unwrap_or_default(),
        username,
        password: Secret::new(form.get("password").unwrap_or_default().to_string()),
        repeated: form.get("password_repeat").unwrap_or_default(),
    };
    match pending::finish(&state, extract::binding_value(&state, &jar), choice).await {
        Ok(Finished::Activated { username, portal_url }) => {
            let context = serde_json::json!({ "username": username, "portal_url": portal_url });
            render(&state, locale, StatusCode::OK, "activated", &context)
        }
        Ok(Finished::Refused(opened, problems)) => {
            let username = if username.len() > 64 { "" } else { username };
            account_page(&state, locale, StatusCode::BAD_REQUEST, id, &opened, username, &problems)
        }
        Ok(Finished::Expired) => page(&state, locale, StatusCode::BAD_REQUEST, "activate_expired"),
        Err(e) => internal_page(&state, locale, e),
    }
}

#[derive(Serialize, Default)]
struct LinkPage<'a> {
    token: &'a str,
    birth_date: &'a str,
    error: Option<String>,
}

/// Journey B: the activation link asks the birth date.
async fn link_form(State(state): State<AppState>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let locale = extract::locale(&headers, None);
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes()).unwrap_or_default();
    let token = params.get("token").unwrap_or_default();
    match link::shown(&state, token).await {
        Ok(true) => render(&state, locale, StatusCode::OK, "activate_link", &LinkPage { token, ..LinkPage::default() }),
        Ok(false) => page(&state, locale, StatusCode::BAD_REQUEST, "activate_link_invalid"),
        Err(e) => internal_page(&state, locale, e),
    }
}

async fn link_submit(
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
    let birth_date = form.get("birth_date").unwrap_or_default().trim();
    let again = |status: StatusCode, key: &str| {
        let kept = if birth_date.len() > 32 { "" } else { birth_date };
        let context = LinkPage { token, birth_date: kept, error: Some(state.templates.text(locale, key)) };
        render(&state, locale, status, "activate_link", &context)
    };
    match link::answer(&state, extract::client_ip(&state, peer, &headers), token, birth_date).await {
        Ok(Activation::Activated) => render(&state, locale, StatusCode::OK, "activated_link", &serde_json::json!({})),
        Ok(Activation::BadFormat) => again(StatusCode::BAD_REQUEST, "birth_date_format"),
        Ok(Activation::Paused) => again(StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(Activation::Refused) => again(StatusCode::UNAUTHORIZED, "activate_link_refused"),
        Err(e) => internal_page(&state, locale, e),
    }
}
