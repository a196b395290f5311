//! `/authorize`, the sign-in form (`/login`) and the consent page (`/consent`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::error::{internal_page, page, render};
use super::{extract, redirect};
use crate::app::AppState;
use crate::auth::levels::FactorUse;
use crate::auth::session;
use crate::auth::signin::{self, SignIn};
use crate::crypto;
use crate::domain::Secret;
use crate::oidc::authorize::{
    self, interaction_key, Interaction, Next, PendingSignIn, RedirectError, UntrustedRequest,
};
use crate::oidc::error::{OAuthError, ProtocolError};
use crate::oidc::params::Params;
use crate::oidc::paths;
use crate::store::Session;
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
    let now = state.clock.unix();
    let session = match session::find(&state, jar.get(session::cookie_name(&state)).map(|c| c.value()), now).await {
        Ok(s) => s,
        Err(e) => return internal_page(&state, locale, e),
    };
    let requirement = match authorize::requirement(&state, &request, session.as_ref().map(|s| &s.account_id)).await {
        Ok(r) => r,
        Err(e) => return internal_page(&state, locale, e),
    };
    match authorize::next_step(&request, session.as_ref(), false, false, &requirement, now) {
        Next::StepUp => {
            let session = session.expect("next_step checked the session");
            let pending = match step_up_of(&state, &session).await {
                Ok(p) => p,
                Err(e) => return internal_page(&state, locale, e),
            };
            start_interaction(&state, jar, request, "/tweede-stap", Some(pending), None).await
        }
        Next::IssueCode => {
            let session = session.as_ref().expect("next_step checked the session");
            finish(&state, &request, session, &requirement, now).await
        }
        Next::Fail(code) => redirect_error(
            &state,
            &RedirectError {
                redirect_uri: request.redirect_uri.clone(),
                state: request.state.clone(),
                error: OAuthError::new(code, "the user must sign in"),
            },
        ),
        next @ (Next::SignIn | Next::Consent) => {
            let target = if next == Next::SignIn { "/login" } else { "/consent" };
            start_interaction(&state, jar, request, target, None, None).await
        }
    }
}

/// A step-up starts from what the session already proved. Sessions made before factors were
/// recorded proved a password (that was all there was). Without the password's fingerprint the
/// second step refuses to go on (see `PendingSignIn::password`).
async fn step_up_of(state: &AppState, session: &Session) -> Result<PendingSignIn, crate::store::StoreError> {
    let factors = if session.factors.is_empty() {
        vec![FactorUse::password(false, session.auth_time)]
    } else {
        session.factors.clone()
    };
    let account = state.store.account_by_id(&session.account_id).await?;
    Ok(PendingSignIn {
        account_id: session.account_id.0.clone(),
        auth_time: session.auth_time,
        factors,
        enrolling: None,
        password: account.as_ref().map(authorize::password_fingerprint).unwrap_or_default(),
    })
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

/// Issues the code and sends the browser back to the portal.
async fn finish(
    state: &AppState,
    request: &authorize::AuthorizationRequest,
    session: &Session,
    requirement: &crate::auth::levels::Requirement,
    now: i64,
) -> Response {
    match authorize::issue_code(state, request, session, requirement, now).await {
        Ok(location) => redirect::see_other(&location),
        Err(ProtocolError::OAuth(e)) => redirect_error(
            state,
            &RedirectError { redirect_uri: request.redirect_uri.clone(), state: request.state.clone(), error: e },
        ),
        Err(e @ ProtocolError::Internal(_)) => {
            tracing::error!(cause = %crate::error_chain(&e), "issuing a code failed");
            redirect_error(
                state,
                &RedirectError {
                    redirect_uri: request.redirect_uri.clone(),
                    state: request.state.clone(),
                    error: OAuthError::server_error(),
                },
            )
        }
    }
}

/// How one of the IdP's own pages wants the person to sign in.
pub(super) enum OwnSignIn<'a> {
    /// A first sign-in (there is no session).
    First,
    /// The password again (and the factor `level` asks), even with a session.
    Again(Option<crate::auth::levels::Level>),
    /// Keep the session's recent password, prove a fresh second factor.
    Factor(&'a Session),
}

/// Signs someone in for one of the IdP's own pages (the account page): an interaction without a
/// portal, which returns to `return_to` (a local path) instead of issuing a code.
pub(super) async fn sign_in_for_own_page(
    state: &AppState,
    jar: CookieJar,
    return_to: &str,
    how: OwnSignIn<'_>,
    locale: Locale,
) -> Response {
    let (again, level) = match how {
        OwnSignIn::First => (false, None),
        OwnSignIn::Again(level) => (true, level),
        OwnSignIn::Factor(_) => (false, Some(crate::auth::levels::Level::TwoFactor)),
    };
    let Ok(redirect_uri) = crate::domain::RedirectUri::parse(&format!("{}{return_to}", state.issuer)) else {
        return page(state, locale, StatusCode::BAD_REQUEST, "error_bad_request");
    };
    let request = authorize::AuthorizationRequest {
        client_id: String::new(),
        redirect_uri,
        scope: crate::domain::Scopes::parse("openid").expect("a valid scope"),
        state: None,
        nonce: None,
        code_challenge: None,
        prompt: authorize::Prompt { login: again, ..authorize::Prompt::default() },
        max_age: None,
        login_hint: None,
        ui_locales: Some(locale.code().to_string()),
        acr_values: level.map(|l| l.acr().to_string()),
    };
    let OwnSignIn::Factor(session) = how else {
        return start_interaction(state, jar, request, "/login", None, Some(return_to.to_string())).await;
    };
    // Only the password carries over: the second factor must be proved now (an older one in the
    // session would meet the level and end the step-up at once).
    let mut pending = match step_up_of(state, session).await {
        Ok(p) => p,
        Err(e) => return internal_page(state, locale, e),
    };
    pending.factors.retain(|f| f.method == crate::auth::levels::Method::Pwd);
    start_interaction(state, jar, request, "/tweede-stap", Some(pending), Some(return_to.to_string())).await
}

/// Keeps the validated request while the user signs in, bound to this browser.
async fn start_interaction(
    state: &AppState,
    jar: CookieJar,
    request: authorize::AuthorizationRequest,
    target: &str,
    pending: Option<PendingSignIn>,
    return_to: Option<String>,
) -> Response {
    let locale = Locale::negotiate(request.ui_locales.as_deref(), None);
    let (jar, binding) = extract::binding(state, jar);
    let id = crypto::random_token(16);
    let interaction = Interaction {
        request,
        csrf: crypto::random_token(32),
        binding: crypto::token_digest(&binding),
        signed_in: false,
        password_change_for: None,
        secret_question_for: None,
        pending,
        return_to,
    };
    let json = serde_json::to_string(&interaction).expect("interaction serialises");
    if let Err(e) = state.kv.put(&interaction_key(&id), &json, state.config.session.interaction_ttl_secs).await {
        return internal_page(state, locale, e);
    }
    (jar, Redirect::to(&format!("{target}?interaction={id}"))).into_response()
}

/// The interaction named in the request, if it exists and belongs to this browser.
async fn load_interaction(
    state: &AppState,
    jar: &CookieJar,
    id: Option<&str>,
) -> Result<Option<Interaction>, crate::kv::KvError> {
    let Some(id) = id.filter(|i| i.len() <= 64) else {
        return Ok(None);
    };
    let Some(json) = state.kv.get(&interaction_key(id)).await? else {
        return Ok(None);
    };
    let Ok(interaction) = serde_json::from_str::<Interaction>(&json) else {
        return Ok(None);
    };
    Ok(extract::binding_matches(state, jar, &interaction.binding).then_some(interaction))
}

/// A submitted interaction form, checked: the interaction exists, belongs to this browser and
/// the form carries its CSRF token. Any failure is already the page to show.
pub(super) struct Submitted {
    pub form: Params,
    pub id: String,
    pub interaction: Interaction,
    pub locale: Locale,
}

pub(super) async fn submitted(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    body: &[u8],
) -> Result<Submitted, Response> {
    let fallback = extract::locale(headers, None);
    let form = extract::form(headers, body)
        .map_err(|_| page(state, fallback, StatusCode::BAD_REQUEST, "error_bad_request"))?;
    let id = form.get("interaction").unwrap_or_default().to_string();
    let interaction = match load_interaction(state, jar, Some(&id)).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(page(state, fallback, StatusCode::BAD_REQUEST, "login_expired")),
        Err(e) => return Err(internal_page(state, fallback, e)),
    };
    let locale = extract::locale(headers, interaction.request.ui_locales.as_deref());
    if !crypto::constant_time_eq(form.get("csrf").unwrap_or_default().as_bytes(), interaction.csrf.as_bytes()) {
        return Err(page(state, locale, StatusCode::BAD_REQUEST, "login_expired"));
    }
    Ok(Submitted { form, id, interaction, locale })
}

/// The interaction a page's link names (`?interaction=…`), checked against this browser, with
/// the page's language. Any failure is already the page to show.
pub(super) struct Opened {
    pub params: Params,
    pub id: String,
    pub interaction: Interaction,
    pub locale: Locale,
}

pub(super) async fn opened(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    jar: &CookieJar,
) -> Result<Opened, Response> {
    let fallback = extract::locale(headers, None);
    let params = Params::parse(query.unwrap_or("").as_bytes()).unwrap_or_default();
    let id = params.get("interaction").unwrap_or_default().to_string();
    let interaction = match load_interaction(state, jar, Some(&id)).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(page(state, fallback, StatusCode::BAD_REQUEST, "login_expired")),
        Err(e) => return Err(internal_page(state, fallback, e)),
    };
    let locale = extract::locale(headers, interaction.request.ui_locales.as_deref());
    Ok(Opened { params, id, interaction, locale })
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

async fn login_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { params, id, interaction, locale } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let client_name = state.client(&interaction.request.client_id).await.ok().flatten().map(|c| c.name.clone());
    let context = LoginPage {
        interaction: &id,
        csrf: &interaction.csrf,
        username: interaction.request.login_hint.as_deref().unwrap_or(""),
        client_name,
        error: None,
        notice: params.get("changed").map(|_| state.templates.text(locale, "password_changed_sign_in")),
    };
    render(&state, locale, StatusCode::OK, "login", &context)
}

async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let Submitted { form, id, interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let username = form.get("username").unwrap_or_default().trim().to_string();
    let client_name = state.client(&interaction.request.client_id).await.ok().flatten().map(|c| c.name.clone());
    let again = |status: StatusCode, key: &str| {
        let context = LoginPage {
            interaction: &id,
            csrf: &interaction.csrf,
            username: &username,
            client_name: client_name.clone(),
            error: Some(state.templates.text(locale, key)),
            notice: None,
        };
        render(&state, locale, status, "login", &context)
    };
    let Some(password) = form.get("password").filter(|_| !username.is_empty()) else {
        return again(StatusCode::BAD_REQUEST, "login_missing");
    };
    let ip = extract::client_ip(&state, peer, &headers);
    let device = extract::known_device(&state, &jar);
    let password = Secret::new(password.to_string());
    let account = match signin::with_password(&state, &username, password, ip, device.as_deref()).await {
        Ok(SignIn::Success(account)) => account,
        Ok(SignIn::Invalid) => return again(StatusCode::UNAUTHORIZED, "login_invalid"),
        Ok(SignIn::Throttled) => return again(StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Err(e) => return internal_page(&state, locale, e),
    };
    // This browser now knows the password: its own wrong passwords no longer count against the
    // username's shared limit (see `auth::known_device`).
    let jar = match signin::remember_device(&state, &username, &account, device.as_deref()).await {
        Ok(token) => jar.add(extract::known_device_cookie(&state, token)),
        Err(e) => return internal_page(&state, locale, e),
    };
    let mut interaction = interaction;
    if interaction.pending.take().is_some() {
        // Someone else (or the same person again) signs in with this interaction: nothing proved
        // or sent for the earlier sign-in may count for this one.
        if let Err(e) = crate::auth::otp::forget(&state, &id).await {
            return internal_page(&state, locale, e);
        }
        if let Err(e) = crate::auth::factors::forget_passkey_ceremony(&state, &id).await {
            return internal_page(&state, locale, e);
        }
    }
    if account.must_change_password {
        // A temporary password (journey B): choose your own first, then sign in with it.
        interaction.password_change_for = Some(account.id.0.clone());
        let json = serde_json::to_string(&interaction).expect("interaction serialises");
        if let Err(e) = state.kv.put(&interaction_key(&id), &json, state.config.session.interaction_ttl_secs).await {
            return internal_page(&state, locale, e);
        }
        return (jar, Redirect::to(&format!("/wachtwoord-wijzigen?interaction={id}"))).into_response();
    }
    match owes_secret_question(&state, &account).await {
        Ok(false) => {}
        Ok(true) => {
            interaction.secret_question_for = Some(account.id.0.clone());
            let json = serde_json::to_string(&interaction).expect("interaction serialises");
            if let Err(e) = state.kv.put(&interaction_key(&id), &json, state.config.session.interaction_ttl_secs).await
            {
                return internal_page(&state, locale, e);
            }
            return (jar, Redirect::to(&format!("/geheime-vraag?interaction={id}"))).into_response();
        }
        Err(e) => return internal_page(&state, locale, e),
    }
    let now = state.clock.unix();
    let pending = PendingSignIn {
        account_id: account.id.0.clone(),
        auth_time: now,
        factors: vec![FactorUse::password(account.password_via_mail, now)],
        enrolling: None,
        password: authorize::password_fingerprint(&account),
    };
    super::second_factor::begin(&state, jar, &id, interaction, pending, &account).await
}

/// An organisation that asks a secret question gets one before the account's first session.
async fn owes_secret_question(
    state: &AppState,
    account: &crate::store::Account,
) -> Result<bool, crate::store::StoreError> {
    let asks = state.store.policy_for_account(&account.id).await?.is_some_and(|p| p.secret_question);
    Ok(asks && state.store.secret_question(&account.id).await?.is_none())
}

/// After sign-in or consent: issue the code (or, for the IdP's own pages, go back there), move
/// on to consent, or ask for another factor when the session is not strong enough.
pub(super) async fn continue_interaction(
    state: &AppState,
    id: &str,
    mut interaction: Interaction,
    session: &Session,
    signed_in_now: bool,
    consented: bool,
    now: i64,
) -> Response {
    let locale = Locale::negotiate(interaction.request.ui_locales.as_deref(), None);
    let signed_in = signed_in_now || interaction.signed_in;
    let requirement = match authorize::requirement(state, &interaction.request, Some(&session.account_id)).await {
        Ok(r) => r,
        Err(e) => return internal_page(state, locale, e),
    };
    match authorize::next_step(&interaction.request, Some(session), signed_in, consented, &requirement, now) {
        Next::StepUp => {
            interaction.pending = match step_up_of(state, session).await {
                Ok(p) => Some(p),
                Err(e) => return internal_page(state, locale, e),
            };
            let json = serde_json::to_string(&interaction).expect("interaction serialises");
            if let Err(e) = state.kv.put(&interaction_key(id), &json, state.config.session.interaction_ttl_secs).await {
                return internal_page(state, locale, e);
            }
            Redirect::to(&format!("/tweede-stap?interaction={id}")).into_response()
        }
        Next::Consent => {
            interaction.signed_in = signed_in;
            let json = serde_json::to_string(&interaction).expect("interaction serialises");
            if let Err(e) = state.kv.put(&interaction_key(id), &json, state.config.session.interaction_ttl_secs).await {
                return internal_page(state, locale, e);
            }
            Redirect::to(&format!("/consent?interaction={id}")).into_response()
        }
        Next::IssueCode => {
            // The interaction is single use: of two concurrent submissions, one gets a code.
            match state.kv.take(&interaction_key(id)).await {
                Ok(Some(_)) => match &interaction.return_to {
                    Some(path) if path.starts_with('/') && !path.starts_with("//") => {
                        Redirect::to(path).into_response()
                    }
                    Some(_) => page(state, locale, StatusCode::BAD_REQUEST, "error_bad_request"),
                    None => finish(state, &interaction.request, session, &requirement, now).await,
                },
                Ok(None) => page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
                Err(e) => internal_page(state, locale, e),
            }
        }
        Next::SignIn | Next::Fail(_) => page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
    }
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
    let client_name = match state.client(&interaction.request.client_id).await {
        Ok(Some(c)) => c.name.clone(),
        Ok(None) => return page(&state, locale, StatusCode::BAD_REQUEST, "error_unknown_client"),
        Err(e) => return internal_page(&state, locale, e),
    };
    let scopes =
        interaction.request.scope.iter().map(|s| state.templates.text(locale, &format!("scope_{s}"))).collect();
    let context = ConsentPage { interaction: &id, csrf: &interaction.csrf, client_name, scopes };
    render(&state, locale, StatusCode::OK, "consent", &context)
}

async fn consent_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let Submitted { form, id, interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let now = state.clock.unix();
    let session = match session::find(&state, jar.get(session::cookie_name(&state)).map(|c| c.value()), now).await {
        Ok(Some(s)) => s,
        Ok(None) => return page(&state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return internal_page(&state, locale, e),
    };
    if form.get("decision") != Some("allow") {
        let _ = state.kv.delete(&interaction_key(&id)).await;
        let error = RedirectError {
            redirect_uri: interaction.request.redirect_uri.clone(),
            state: interaction.request.state.clone(),
            error: OAuthError::new(crate::oidc::error::ErrorCode::AccessDenied, "the user declined"),
        };
        return redirect_error(&state, &error);
    }
    continue_interaction(&state, &id, interaction, &session, false, true, now).await
}
