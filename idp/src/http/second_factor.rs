//! The second step of a sign-in (`/tweede-stap`) and, when an organisation requires two factors
//! of someone who has none yet, enrolling an authenticator app on the spot (`/tweede-stap/app`,
//! journey A). A session is made only once the request's requirement is met; a step-up of an
//! existing session replaces it with a stronger one (its portals' grants move along).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::Serialize;

use super::authorize::{continue_interaction, opened, submitted, Opened, Submitted};
use super::error::{internal_page, page, render};
use super::extract;
use crate::app::AppState;
use crate::auth::factors::{self, FactorError, Options, SecondStep, Sent, TotpCheck};
use crate::auth::levels::{Channel, FactorUse, Level, Method, Requirement};
use crate::auth::{otp, session};
use crate::domain::{AccountId, ClientId};
use crate::oidc::authorize::{self, interaction_key, Interaction, PendingSignIn};
use crate::store::Account;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tweede-stap", get(second_form).post(second_submit))
        .route("/tweede-stap/app", get(enrol_form).post(enrol_submit))
        .route("/tweede-stap/passkey", axum::routing::post(passkey_submit))
}

/// What the organisations involved allow: the portal's and the account's own.
#[derive(Debug, Clone, Copy)]
pub(super) struct Allowed {
    pub mailed_token: bool,
    /// Days a browser may be trusted; 0 when not at all. The stricter organisation wins.
    pub trusted_device_days: i64,
}

/// What the request demands and what the organisations allow, from one read of their policies.
async fn governing(
    state: &AppState,
    interaction: &Interaction,
    account: &AccountId,
) -> Result<(Requirement, Allowed), crate::store::StoreError> {
    let policies = authorize::policies(state, &interaction.request.client_id, Some(account)).await?;
    let allowed = Allowed {
        mailed_token: authorize::mailed_token_accepted(&policies),
        trusted_device_days: policies.iter().map(|p| p.trusted_device_days).min().unwrap_or(7),
    };
    Ok((authorize::requirement_for(&state.config, &interaction.request, &policies), allowed))
}

/// A text about codes, with the configured times filled in (`{code_minutes}`: how long a sent code
/// lives; `{pause_minutes}`: the pause after too many wrong codes; `{send_minutes}`: the send window).
pub(super) fn say(state: &AppState, locale: Locale, key: &str) -> String {
    let f = &state.config.factors;
    state
        .templates
        .text(locale, key)
        .replace("{code_minutes}", &(f.code_ttl_secs / 60).to_string())
        .replace("{pause_minutes}", &(f.failure_window_secs / 60).max(1).to_string())
        .replace("{send_minutes}", &(f.send_window_secs / 60).max(1).to_string())
}

async fn save(state: &AppState, id: &str, interaction: &Interaction) -> Result<(), crate::kv::KvError> {
    let json = serde_json::to_string(interaction).expect("interaction serialises");
    state.kv.put(&interaction_key(id), &json, state.config.session.interaction_ttl_secs).await
}

/// After the password (or for a session that is not strong enough): a trusted device may stand
/// in for the second factor; if the requirement is met, the session is made, otherwise the
/// person goes to the second step.
pub(super) async fn begin(
    state: &AppState,
    jar: CookieJar,
    id: &str,
    mut interaction: Interaction,
    mut pending: PendingSignIn,
    account: &Account,
) -> Response {
    let locale = Locale::negotiate(interaction.request.ui_locales.as_deref(), None);
    let now = state.clock.unix();
    let result = async {
        let (requirement, allowed) = governing(state, &interaction, &account.id).await?;
        let cookie = jar.get(factors::device_cookie_name(state)).map(|c| c.value().to_string());
        let device =
            factors::remembered(state, cookie.as_deref(), account, allowed.trusted_device_days > 0, now).await?;
        // A portal that asks for a fresh sign-in (prompt=login, max_age) gets one: a remembered
        // factor is not fresh. Nor does it count once its method is no longer accepted.
        let fresh_asked = interaction.request.prompt.login || interaction.request.max_age.is_some();
        let device = device.filter(|f| !fresh_asked && (f.method != Method::Email || allowed.mailed_token));
        Ok::<_, FactorError>((requirement, device))
    }
    .await;
    let (requirement, device) = match result {
        Ok(r) => r,
        Err(e) => return internal_page(state, locale, e),
    };
    if let Some(remembered) = device {
        if !pending.factors.contains(&remembered) {
            pending.factors.push(remembered);
        }
    }
    if requirement.is_met(&pending.factors, now) {
        return complete(state, jar, id, interaction, pending).await;
    }
    interaction.pending = Some(pending);
    if let Err(e) = save(state, id, &interaction).await {
        return internal_page(state, locale, e);
    }
    (jar, Redirect::to(&format!("/tweede-stap?interaction={id}"))).into_response()
}

/// Makes the session from the factors proved, replacing the one this browser had, and moves on.
async fn complete(
    state: &AppState,
    jar: CookieJar,
    id: &str,
    mut interaction: Interaction,
    pending: PendingSignIn,
) -> Response {
    let locale = Locale::negotiate(interaction.request.ui_locales.as_deref(), None);
    let now = state.clock.unix();
    let account = match state.store.account_by_id(&AccountId(pending.account_id.clone())).await {
        Ok(Some(a)) => a,
        Ok(None) => return page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return internal_page(state, locale, e),
    };
    let old = jar.get(session::cookie_name(state)).map(|c| c.value().to_string());
    let previous = match session::find(state, old.as_deref(), now).await {
        Ok(p) => p,
        Err(e) => return internal_page(state, locale, e),
    };
    let portal = (!interaction.request.client_id.is_empty()).then(|| ClientId(interaction.request.client_id.clone()));
    // A new session (and cookie value) at every sign-in or step-up; the one this browser had is replaced.
    let sign_in = session::SignedIn {
        account: &account,
        factors: pending.factors,
        auth_time: pending.auth_time,
        previous: previous.as_ref(),
        portal: portal.as_ref(),
    };
    let (token, new_session) = match session::start(state, sign_in, now).await {
        Ok(s) => s,
        Err(e) => return internal_page(state, locale, e),
    };
    tracing::info!(account = %account.id, acr = %new_session.acr, "signed in");
    let jar = jar.add(extract::cookie(state, session::cookie_name(state), token));
    interaction.pending = None;
    let response = continue_interaction(state, id, interaction, &new_session, true, false, now).await;
    (jar, response).into_response()
}

/// The pending sign-in of an interaction, with its account.
async fn pending_account(
    state: &AppState,
    interaction: &Interaction,
) -> Result<Option<(PendingSignIn, Account)>, FactorError> {
    let Some(pending) = interaction.pending.clone() else {
        return Ok(None);
    };
    let account = state.store.account_by_id(&AccountId(pending.account_id.clone())).await?;
    // The password proved at the start must still be the account's password.
    let current = |a: &Account| {
        crate::crypto::constant_time_eq(authorize::password_fingerprint(a).as_bytes(), pending.password.as_bytes())
    };
    Ok(account.filter(|a| !a.disabled && current(a)).map(|a| (pending, a)))
}

/// The sign-in waiting in the interaction, with its account; otherwise the page to show.
async fn waiting_sign_in(
    state: &AppState,
    interaction: &Interaction,
    locale: Locale,
) -> Result<(PendingSignIn, Account), Response> {
    match pending_account(state, interaction).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(page(state, locale, StatusCode::BAD_REQUEST, "login_expired")),
        Err(e) => Err(internal_page(state, locale, e)),
    }
}

#[derive(Serialize)]
struct SecondPage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    method: &'a str,
    options: Options,
    /// The chosen phone, for SMS or voice.
    phone: Option<String>,
    trust_label: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    /// More than one method: links to the others.
    alternatives: bool,
    /// For the passkey method: the browser's options (JSON), the form's target and button.
    passkey_options: Option<String>,
    passkey_action: &'static str,
    passkey_mode: &'static str,
    passkey_button: String,
}

/// The method to show: the one asked for when it is available, else the first available.
fn choose(options: &Options, asked: Option<&str>) -> Option<SecondStep> {
    let asked = asked.and_then(SecondStep::parse).filter(|s| options.offers(*s));
    asked.or_else(|| options.available().next())
}

struct Context {
    level: Level,
    allowed: Allowed,
    options: Options,
    /// The account has a confirmed factor.
    has_factors: bool,
}

async fn context(state: &AppState, interaction: &Interaction, account: &Account) -> Result<Context, FactorError> {
    let (requirement, allowed) = governing(state, interaction, &account.id).await?;
    let confirmed = factors::confirmed(state, account).await?;
    // The IdP's own pages (re-authentication for the account page) take a mailed token only
    // from an account that has no enrolled factor (then it is what guards its changes).
    let mailed_token = allowed.mailed_token && (interaction.return_to.is_none() || confirmed.is_empty());
    let options = factors::options(state, account, &confirmed, mailed_token, requirement.level()).await?;
    Ok(Context { level: requirement.level(), allowed, options, has_factors: !confirmed.is_empty() })
}

impl Context {
    /// May this person enrol an authenticator app during sign-in? Only at the very first time
    /// (no factor yet), and not right after a password reset by mail: whoever holds the mailbox
    /// must not be able to add a factor of their own.
    fn may_enrol(&self, account: &Account) -> bool {
        self.level == Level::TwoFactor && self.options.is_empty() && !self.has_factors && !account.password_via_mail
    }
}

#[allow(clippy::too_many_arguments)]
async fn second_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    interaction: &Interaction,
    account: &Account,
    ctx: Context,
    method: SecondStep,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let passkey_options = if method == SecondStep::Passkey {
        // A new ceremony each time the page is shown; the last one shown is the one that counts.
        match factors::start_passkey_sign_in(state, account, id).await {
            Ok(options) => options.map(|o| o.to_string()),
            Err(e) => return internal_page(state, locale, e),
        }
    } else {
        None
    };
    let count = ctx.options.available().count();
    let phone = ctx.options.phones.first().map(|p| p.masked.clone());
    let trust_label = (ctx.allowed.trusted_device_days > 0 && method != SecondStep::Recovery).then(|| {
        match ctx.allowed.trusted_device_days {
            // The seed manuals' words: "Vertrouw deze computer voor een week".
            7 => state.templates.text(locale, "trust_device_week"),
            days => state.templates.text(locale, "trust_device").replace("{days}", &days.to_string()),
        }
    });
    let context = SecondPage {
        interaction: id,
        csrf: &interaction.csrf,
        method: method.as_str(),
        options: ctx.options,
        phone,
        trust_label,
        error: error.map(|k| say(state, locale, k)),
        notice: notice.map(|k| say(state, locale, k)),
        alternatives: count > 1,
        passkey_options,
        passkey_action: "/tweede-stap/passkey",
        passkey_mode: "authenticate",
        passkey_button: state.templates.text(locale, "passkey_sign_in_button"),
    };
    render(state, locale, status, "second_factor", &context)
}

async fn second_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { params, id, interaction, locale } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let (_, account) = match waiting_sign_in(&state, &interaction, locale).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let ctx = match context(&state, &interaction, &account).await {
        Ok(c) => c,
        Err(e) => return internal_page(&state, locale, e),
    };
    let Some(method) = choose(&ctx.options, params.get("method")) else {
        if ctx.may_enrol(&account) {
            return Redirect::to(&format!("/tweede-stap/app?interaction={id}")).into_response();
        }
        return page(&state, locale, StatusCode::FORBIDDEN, "no_factor");
    };
    let (mut notice, mut error) = (None, None);
    if method.sends_code() {
        // The first time a sent-code method is shown, the code goes out by itself.
        match otp::waiting(&state, &id, account.id.as_str()).await {
            Ok(Some(_)) => {}
            Ok(None) => match send_code(&state, &account, &ctx.options, method, &id, locale).await {
                Ok(Sent::Sent) => notice = Some("code_sent"),
                Ok(Sent::Throttled) => notice = Some("code_send_throttled"),
                Ok(Sent::Failed) => error = Some("code_send_failed"),
                Err(e) => return internal_page(&state, locale, e),
            },
            Err(e) => return internal_page(&state, locale, e),
        }
    }
    second_page(&state, locale, StatusCode::OK, &id, &interaction, &account, ctx, method, error, notice).await
}

async fn second_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let Submitted { form, id, mut interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let (mut pending, account) = match waiting_sign_in(&state, &interaction, locale).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let ctx = match context(&state, &interaction, &account).await {
        Ok(c) => c,
        Err(e) => return internal_page(&state, locale, e),
    };
    let Some(method) = choose(&ctx.options, form.get("method")) else {
        return page(&state, locale, StatusCode::FORBIDDEN, "no_factor");
    };
    let now = state.clock.unix();
    let again = |ctx: Context, status: StatusCode, error: Option<&'static str>, notice: Option<&'static str>| {
        second_page(&state, locale, status, &id, &interaction, &account, ctx, method, error, notice)
    };
    if form.get("action") == Some("resend") && method.sends_code() {
        return match send_code(&state, &account, &ctx.options, method, &id, locale).await {
            Ok(Sent::Sent) => again(ctx, StatusCode::OK, None, Some("code_sent")).await,
            Ok(Sent::Throttled) => again(ctx, StatusCode::TOO_MANY_REQUESTS, Some("code_send_throttled"), None).await,
            Ok(Sent::Failed) => again(ctx, StatusCode::OK, Some("code_send_failed"), None).await,
            Err(e) => internal_page(&state, locale, e),
        };
    }
    let code = form.get("code").unwrap_or_default();
    if code.trim().is_empty() {
        return again(ctx, StatusCode::BAD_REQUEST, Some("factor_missing"), None).await;
    }
    // Every answer takes one of the account's tries before it is compared.
    match factors::take_try(&state, &account).await {
        Ok(true) => {}
        Ok(false) => return again(ctx, StatusCode::TOO_MANY_REQUESTS, Some("factor_throttled"), None).await,
        Err(e) => return internal_page(&state, locale, e),
    }
    let checked: Result<Result<FactorUse, &'static str>, FactorError> = async {
        Ok(match method {
            SecondStep::Totp => match factors::check_totp(&state, &account, code, now).await? {
                TotpCheck::Right(used) => Ok(used),
                TotpCheck::Wrong => Err("factor_wrong"),
                TotpCheck::Replayed => Err("factor_replayed"),
            },
            SecondStep::Mail | SecondStep::Phone => {
                match otp::check(&state, &state.factor_key, &id, account.id.as_str(), code).await? {
                    // A phone code counts only for one of this account's confirmed phones.
                    otp::Checked::Right(method, channel, factor)
                        if channel != Channel::Phone || ctx.options.phones.iter().any(|p| p.id == factor) =>
                    {
                        Ok(FactorUse::new(method, channel, now))
                    }
                    otp::Checked::Right(..) => Err("code_expired"),
                    otp::Checked::Wrong => Err("factor_wrong"),
                    otp::Checked::NoCode => Err("code_expired"),
                    otp::Checked::Exhausted => Err("code_exhausted"),
                }
            }
            SecondStep::Recovery => match factors::check_recovery_code(&state, &account, code, locale, now).await? {
                Some(used) => Ok(used),
                None => Err("factor_wrong"),
            },
            // A passkey answers through `/tweede-stap/passkey`, not with a typed code.
            SecondStep::Passkey => Err("factor_wrong"),
        })
    }
    .await;
    let used = match checked {
        Ok(Ok(used)) => used,
        Ok(Err(key)) => {
            tracing::info!(account = %account.id, method = method.as_str(), "second factor refused");
            return again(ctx, StatusCode::UNAUTHORIZED, Some(key), None).await;
        }
        Err(e) => return internal_page(&state, locale, e),
    };
    if let Err(e) = factors::clear_tries(&state, &account).await {
        return internal_page(&state, locale, e);
    }
    let mut jar = jar;
    let trusted =
        form.get("trust") == Some("yes") && ctx.allowed.trusted_device_days > 0 && used.channel != Channel::Paper;
    if trusted {
        let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let days = ctx.allowed.trusted_device_days;
        match factors::trust_device(&state, &account, &used, days, user_agent, now).await {
            Ok(token) => {
                let mut cookie: Cookie<'static> = extract::cookie(&state, factors::device_cookie_name(&state), token);
                cookie.set_max_age(time::Duration::days(days));
                jar = jar.add(cookie);
            }
            Err(e) => return internal_page(&state, locale, e),
        }
    }
    pending.factors.push(used);
    interaction.pending = Some(pending.clone());
    // Done when the requirement is met, else back to the second step for another factor.
    begin(&state, jar, &id, interaction, pending, &account).await
}

/// Sends the mailed token, or a code to the first phone.
async fn send_code(
    state: &AppState,
    account: &Account,
    options: &Options,
    method: SecondStep,
    slot: &str,
    locale: Locale,
) -> Result<Sent, FactorError> {
    if method == SecondStep::Mail {
        return factors::send_mail_code(state, account, slot, locale, state.clock.unix()).await;
    }
    let Some(phone) = options.phones.first() else {
        return Ok(Sent::Throttled);
    };
    match state.store.factor(&phone.id).await? {
        Some(factor) => factors::send_phone_code(state, account, &factor, slot, locale).await,
        None => Ok(Sent::Throttled),
    }
}

/// The answer of the browser's passkey (from `passkey.js`).
async fn passkey_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let Submitted { form, id, interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let (mut pending, account) = match waiting_sign_in(&state, &interaction, locale).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let response = form.get("response").unwrap_or_default();
    match factors::finish_passkey_sign_in(&state, &account, &id, response, state.clock.unix()).await {
        Ok(Ok(used)) => {
            pending.factors.push(used);
            begin(&state, jar, &id, interaction, pending, &account).await
        }
        Ok(Err(e)) => {
            let ctx = match context(&state, &interaction, &account).await {
                Ok(c) => c,
                Err(e) => return internal_page(&state, locale, e),
            };
            let key = format!("passkey_error_{}", e.code());
            second_page(
                &state,
                locale,
                StatusCode::UNAUTHORIZED,
                &id,
                &interaction,
                &account,
                ctx,
                SecondStep::Passkey,
                Some(&key),
                None,
            )
            .await
        }
        Err(e) => internal_page(&state, locale, e),
    }
}

#[derive(Serialize)]
struct EnrolPage<'a> {
    action: &'a str,
    interaction: &'a str,
    csrf: &'a str,
    qr_svg: String,
    secret_text: String,
    error: Option<String>,
}

/// Journey A: the organisation requires two factors and this person has none yet.
async fn enrol_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { id, mut interaction, locale, .. } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let (mut pending, account) = match waiting_sign_in(&state, &interaction, locale).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    match enrol_allowed(&state, &interaction, &account).await {
        Ok(true) => {}
        Ok(false) => return page(&state, locale, StatusCode::FORBIDDEN, "no_factor"),
        Err(e) => return internal_page(&state, locale, e),
    }
    let now = state.clock.unix();
    let factor_id = match pending.enrolling.clone() {
        Some(f) => f,
        None => match factors::start_totp(&state, &account, now).await {
            Ok(f) => {
                pending.enrolling = Some(f.id.clone());
                interaction.pending = Some(pending);
                if let Err(e) = save(&state, &id, &interaction).await {
                    return internal_page(&state, locale, e);
                }
                f.id
            }
            Err(e) => return internal_page(&state, locale, e),
        },
    };
    enrol_page(&state, locale, StatusCode::OK, "/tweede-stap/app", &id, &interaction.csrf, &account, &factor_id, None)
        .await
}

async fn enrol_allowed(state: &AppState, interaction: &Interaction, account: &Account) -> Result<bool, FactorError> {
    Ok(context(state, interaction, account).await?.may_enrol(account))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn enrol_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    action: &str,
    interaction: &str,
    csrf: &str,
    account: &Account,
    factor_id: &str,
    error: Option<&str>,
) -> Response {
    let enrolment = match factors::totp_enrolment(state, account, factor_id).await {
        Ok(Some(e)) => e,
        Ok(None) => return page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return internal_page(state, locale, e),
    };
    let context = EnrolPage {
        action,
        interaction,
        csrf,
        qr_svg: enrolment.qr_svg,
        secret_text: enrolment.secret_text,
        error: error.map(|k| say(state, locale, k)),
    };
    render(state, locale, status, "totp_enrol", &context)
}

async fn enrol_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let Submitted { form, id, interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let (mut pending, account) = match waiting_sign_in(&state, &interaction, locale).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let Some(factor_id) = pending.enrolling.clone() else {
        return page(&state, locale, StatusCode::BAD_REQUEST, "login_expired");
    };
    match enrol_allowed(&state, &interaction, &account).await {
        Ok(true) => {}
        Ok(false) => return page(&state, locale, StatusCode::FORBIDDEN, "no_factor"),
        Err(e) => return internal_page(&state, locale, e),
    }
    let again = |status, key| {
        let (state, account, id, csrf, factor_id) = (&state, &account, &id, &interaction.csrf, &factor_id);
        async move { enrol_page(state, locale, status, "/tweede-stap/app", id, csrf, account, factor_id, Some(key)).await }
    };
    match factors::take_try(&state, &account).await {
        Ok(true) => {}
        Ok(false) => return again(StatusCode::TOO_MANY_REQUESTS, "factor_throttled").await,
        Err(e) => return internal_page(&state, locale, e),
    }
    let now = state.clock.unix();
    let code = form.get("code").unwrap_or_default();
    match factors::confirm_totp(&state, &account, &factor_id, code, locale, now).await {
        Ok(Some(used)) => {
            if let Err(e) = factors::clear_tries(&state, &account).await {
                return internal_page(&state, locale, e);
            }
            pending.factors.push(used);
            pending.enrolling = None;
            begin(&state, jar, &id, interaction, pending, &account).await
        }
        Ok(None) => again(StatusCode::UNAUTHORIZED, "enrol_wrong").await,
        Err(e) => internal_page(&state, locale, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asked_method_wins_when_available() {
        let options = Options { totp: true, mail: true, ..Options::default() };
        assert_eq!(choose(&options, None), Some(SecondStep::Totp));
        assert_eq!(choose(&options, Some("mail")), Some(SecondStep::Mail));
        assert_eq!(choose(&options, Some("recovery")), Some(SecondStep::Totp));
        assert_eq!(choose(&Options::default(), None), None);
        assert_eq!(choose(&options, Some("TOTP")), Some(SecondStep::Totp), "an unknown name is ignored");
    }

    #[test]
    fn every_way_has_one_name() {
        for step in SecondStep::ALL {
            assert_eq!(SecondStep::parse(step.as_str()), Some(step));
            assert_eq!(serde_json::to_value(step).unwrap(), step.as_str(), "the page and the form agree");
        }
        assert_eq!(SecondStep::parse("sms"), None);
        assert!(SecondStep::Mail.sends_code() && SecondStep::Phone.sends_code() && !SecondStep::Totp.sends_code());
    }
}
