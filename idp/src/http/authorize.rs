//! `/authorize`, the sign-in form (`/login`) and the consent page (`/consent`). The sign-in
//! itself is `signin`: these handlers extract, call it, and render.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::error::{internal_page, page, render};
use super::interaction::{opened, respond, status, step, Opened, Submitted};
use super::{extract, redirect};
use crate::app::AppState;
use crate::auth::session;
use crate::oidc::authorize::{self, RedirectError, UntrustedRequest};
use crate::oidc::paths;
use crate::signin::{self, Fresh, Input, LocalPath, OwnPage, Purpose, Step};
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::AUTHORIZE, get(authorize_endpoint).post(authorize_endpoint))
        .route("/login", get(login_form).post(login_submit))
        .route("/consent", get(consent_form).post(consent_submit))
}

async fn authorize_endpoint(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let fallback_locale = extract::locale(&headers, None);
    if method == Method::POST {
        return match extract::post_as_get(paths::AUTHORIZE, &headers, &body) {
            Some(location) => redirect::see_other(&location),
            None => page(&state, fallback_locale, StatusCode::BAD_REQUEST, "error_bad_request"),
        };
    }
    let Ok(params) = extract::query_params(query.as_deref()) else {
        return page(&state, fallback_locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let locale = extract::locale(&headers, params.get("ui_locales"));
    let client = match params.get("client_id") {
        Some(id) if !params.is_duplicated("client_id") => match state.client(id).await {
            Ok(c) => c,
            Err(e) => return internal_page(&state, locale, e),
        },
        _ => None,
    };
    let redirect_uri = match authorize::trusted_redirect(&params, client.as_deref()) {
        Ok(uri) => uri,
        Err(reason) => return untrusted_page(&state, locale, reason),
    };
    let client = client.expect("trusted_redirect checked the client");
    let request = match authorize::validate(&params, &client, redirect_uri) {
        Ok(r) => r,
        Err(e) => return redirect_error(&state, &e),
    };
    begin(&state, jar, Purpose::Portal(Box::new(request)), locale).await
}

/// Starts a sign-in in this browser: finishes at once when its session suffices.
async fn begin(state: &AppState, jar: CookieJar, purpose: Purpose, locale: Locale) -> Response {
    let (jar, binding) = extract::binding(state, jar);
    let session = jar.get(session::cookie_name(state)).map(|c| c.value().to_string());
    let answer = signin::begin(state, purpose, &binding, session.as_deref(), locale).await;
    respond(state, jar, locale, answer, async |_| page(state, locale, StatusCode::BAD_REQUEST, "login_expired")).await
}

fn untrusted_page(state: &AppState, locale: Locale, reason: UntrustedRequest) -> Response {
    let key = match reason {
        UntrustedRequest::UnknownClient | UntrustedRequest::MissingClient => "error_unknown_client",
        UntrustedRequest::InvalidRedirectUri => "error_bad_redirect",
        UntrustedRequest::Malformed => "error_bad_request",
    };
    page(state, locale, StatusCode::BAD_REQUEST, key)
}

fn redirect_error(state: &AppState, error: &RedirectError) -> Response {
    redirect::see_other(&error.location(&state.issuer))
}

/// Signs someone in for one of the IdP's own pages (the account page): an interaction without a
/// portal, which goes back to `return_to` (a local path) instead of issuing a code.
pub(super) async fn sign_in_for_own_page(
    state: &AppState,
    jar: CookieJar,
    return_to: &str,
    how: Fresh,
    locale: Locale,
) -> Response {
    let Some(return_to) = LocalPath::parse(return_to) else {
        return page(state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let own = OwnPage { return_to, how, locale: locale.code().to_string() };
    begin(state, jar, Purpose::OwnPage(own), locale).await
}

#[derive(Serialize)]
struct LoginPage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    username: &'a str,
    client_name: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn client_name(state: &AppState, interaction: &signin::Interaction) -> Option<String> {
    let portal = interaction.portal()?;
    state.client(portal.as_str()).await.ok().flatten().map(|c| c.name.clone())
}

async fn login_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { id, interaction, locale, .. } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let after_change = interaction.step == Step::Password { after_change: true };
    let context = LoginPage {
        interaction: &id,
        csrf: &interaction.csrf,
        username: interaction.login_hint().unwrap_or(""),
        client_name: client_name(&state, &interaction).await,
        error: None,
        notice: after_change.then(|| state.templates.text(locale, "password_changed_sign_in")),
    };
    render(&state, locale, StatusCode::OK, "login", &context)
}

async fn login_submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let Submitted { form, id, interaction, locale, .. } = &submitted;
    let username = form.get("username").unwrap_or_default();
    let input = Input::Password { username, password: form.get("password").unwrap_or_default() };
    step(&state, &submitted, input, async |stay| {
        let error = stay.say.key().map(|key| state.templates.text(*locale, key));
        let client_name = client_name(&state, interaction).await;
        let csrf = &interaction.csrf;
        let context = LoginPage { interaction: id, csrf, username: username.trim(), client_name, error, notice: None };
        render(&state, *locale, status(stay.why), "login", &context)
    })
    .await
}

#[derive(Serialize)]
struct ConsentPage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    client_name: String,
    scopes: Vec<String>,
}

async fn consent_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { id, interaction, locale, .. } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let Some(request) = interaction.request().filter(|_| interaction.step == Step::Consent) else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "login_expired");
    };
    let client_name = match state.client(request.client_id.as_str()).await {
        Ok(Some(c)) => c.name.clone(),
        Ok(None) => return page(&state, locale, StatusCode::BAD_REQUEST, "error_unknown_client"),
        Err(e) => return internal_page(&state, locale, e),
    };
    let scopes = request.scope.iter().map(|s| state.templates.text(locale, &format!("scope_{s}"))).collect();
    let context = ConsentPage { interaction: &id, csrf: &interaction.csrf, client_name, scopes };
    render(&state, locale, StatusCode::OK, "consent", &context)
}

async fn consent_submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let input = Input::Consent { allow: submitted.form.get("decision") == Some("allow") };
    let locale = submitted.locale;
    step(&state, &submitted, input, async |_| page(&state, locale, StatusCode::BAD_REQUEST, "login_expired")).await
}
