//! Journey A's pages: `/activeren` (e-mail + validation code) and `/activeren/account`
//! (username + password twice). Between the two, the validated invitation is kept in `kv`,
//! bound to the browser and the form, like a sign-in.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};

use super::error::{internal_page, page, render, PageError};
use super::{extract, password_form};
use crate::activation::account::{self, CodeCheck, Created, Problems};
use crate::activation::Mailing;
use crate::app::AppState;
use crate::crypto;
use crate::domain::Secret;
use crate::oidc::params::Params;
use crate::store::{Invitation, OrganisationPolicy};
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/activeren", get(code_form).post(code_submit))
        .route("/activeren/account", get(account_form).post(account_submit))
        .route("/activeren/link", get(link_form).post(link_submit))
}

/// A validated invitation, waiting for the person to choose a username and password.
#[derive(Serialize, Deserialize)]
struct Pending {
    invitation_id: String,
    csrf: String,
    binding: String,
}

fn pending_key(id: &str) -> String {
    crate::kv::keys::activation(id)
}

/// Wrong codes per client address before the page pauses (on top of the per-invitation lock).
const MAX_FAILURES_PER_IP: u64 = 20;

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
    if email.is_empty() || code.trim().is_empty() {
        return again(jar, StatusCode::BAD_REQUEST, "activate_missing");
    }
    if crate::activation::parse_email(email).is_none() {
        return again(jar, StatusCode::BAD_REQUEST, "activate_bad_email");
    }
    let ip_key = crate::kv::keys::activation_failures_by_address(extract::client_ip(&state, peer, &headers));
    match extract::limit_reached(&state, &ip_key, MAX_FAILURES_PER_IP).await {
        Ok(true) => return again(jar, StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(false) => {}
        Err(e) => return internal_page(&state, locale, e),
    }
    let now = state.clock.unix();
    let invitation = match account::check_code(state.store.as_ref(), email, code, now).await {
        Ok(CodeCheck::Valid(invitation)) => invitation,
        Ok(CodeCheck::Refused) => {
            let _ = state.kv.incr(&ip_key, state.config.signin.window_secs).await;
            return again(jar, StatusCode::UNAUTHORIZED, "activate_refused");
        }
        Err(e) => return internal_page(&state, locale, e),
    };
    let (jar, binding) = extract::binding(&state, jar);
    let id = crypto::random_token(16);
    let pending = Pending {
        invitation_id: invitation.id,
        csrf: crypto::random_token(32),
        binding: crypto::token_digest(&binding),
    };
    let json = serde_json::to_string(&pending).expect("pending activation serialises");
    if let Err(e) = state.kv.put(&pending_key(&id), &json, state.config.session.interaction_ttl_secs).await {
        return internal_page(&state, locale, e);
    }
    (jar, Redirect::to(&format!("/activeren/account?activation={id}"))).into_response()
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

/// The pending activation this browser may continue, with its invitation and policy.
async fn load(
    state: &AppState,
    jar: &CookieJar,
    id: &str,
) -> Result<Option<(Pending, Invitation, OrganisationPolicy)>, PageError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(json) = state.kv.get(&pending_key(id)).await? else { return Ok(None) };
    let Ok(pending) = serde_json::from_str::<Pending>(&json) else { return Ok(None) };
    if !extract::binding_matches(state, jar, &pending.binding) {
        return Ok(None);
    }
    let Some(invitation) = state.store.invitation_by_id(&pending.invitation_id).await? else {
        return Ok(None);
    };
    let policy = state
        .store
        .policy(&invitation.organisation_id)
        .await?
        .unwrap_or_else(|| OrganisationPolicy::default_for(invitation.organisation_id.clone()));
    Ok(Some((pending, invitation, policy)))
}

fn account_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    loaded: &(Pending, Invitation, OrganisationPolicy),
    username: &str,
    problems: &Problems,
) -> Response {
    let (pending, invitation, policy) = loaded;
    let password_errors = password_form::password_errors(state, locale, &policy.password_rules, problems);
    let context = AccountPage {
        activation: id,
        csrf: &pending.csrf,
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
    match load(&state, &jar, id).await {
        Ok(Some(loaded)) => account_page(&state, locale, StatusCode::OK, id, &loaded, "", &Problems::default()),
        Ok(None) => page(&state, locale, StatusCode::BAD_REQUEST, "activate_expired"),
        Err(e) => e.page(&state, locale),
    }
}

async fn account_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let locale = extract::locale(&headers, None);
    let Ok(form) = extract::form(&headers, &body) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let id = form.get("activation").unwrap_or_default().to_string();
    let loaded = match load(&state, &jar, &id).await {
        Ok(Some(loaded)) => loaded,
        Ok(None) => return page(&state, locale, StatusCode::BAD_REQUEST, "activate_expired"),
        Err(e) => return e.page(&state, locale),
    };
    if !crypto::constant_time_eq(form.get("csrf").unwrap_or_default().as_bytes(), loaded.0.csrf.as_bytes()) {
        return page(&state, locale, StatusCode::BAD_REQUEST, "activate_expired");
    }
    let username = form.get("username").unwrap_or_default();
    let password = Secret::new(form.get("password").unwrap_or_default().to_string());
    let repeated = form.get("password_repeat").unwrap_or_default();
    let policy = &loaded.2;
    let now = state.clock.unix();
    match account::create(state.activation(), policy, &loaded.1, username, password, repeated, now).await {
        Ok(Created::Account(account)) => {
            let _ = state.kv.delete(&pending_key(&id)).await;
            tracing::info!(account = %account.id, invitation = %loaded.1.id, "account activated");
            let context = serde_json::json!({ "username": account.username, "portal_url": policy.portal_url });
            render(&state, locale, StatusCode::OK, "activated", &context)
        }
        Ok(Created::Refused(problems)) => {
            let username = if username.len() > 64 { "" } else { username };
            account_page(&state, locale, StatusCode::BAD_REQUEST, &id, &loaded, username, &problems)
        }
        Ok(Created::NoLongerOpen) => page(&state, locale, StatusCode::BAD_REQUEST, "activate_expired"),
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
    match crate::activation::link::open(state.store.as_ref(), token, state.clock.unix()).await {
        Ok(Some(_)) => {
            render(&state, locale, StatusCode::OK, "activate_link", &LinkPage { token, ..LinkPage::default() })
        }
        Ok(None) => page(&state, locale, StatusCode::BAD_REQUEST, "activate_link_invalid"),
        Err(e) => internal_page(&state, locale, e),
    }
}

async fn link_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use crate::activation::link::{self, Activation};
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
    let ip_key = crate::kv::keys::activation_failures_by_address(extract::client_ip(&state, peer, &headers));
    match extract::limit_reached(&state, &ip_key, MAX_FAILURES_PER_IP).await {
        Ok(true) => return again(StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(false) => {}
        Err(e) => return internal_page(&state, locale, e),
    }
    let now = state.clock.unix();
    match link::activate(
        state.activation(),
        Mailing { templates: &state.mail_templates, config: &state.config, issuer: &state.issuer },
        token,
        birth_date,
        now,
    )
    .await
    {
        Ok(Activation::Activated) => render(&state, locale, StatusCode::OK, "activated_link", &serde_json::json!({})),
        Ok(Activation::BadFormat) => again(StatusCode::BAD_REQUEST, "birth_date_format"),
        Ok(Activation::Refused) => {
            let _ = state.kv.incr(&ip_key, state.config.signin.window_secs).await;
            again(StatusCode::UNAUTHORIZED, "activate_link_refused")
        }
        Err(e) => internal_page(&state, locale, e),
    }
}
