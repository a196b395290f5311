//! The account page, "Privacy en beveiliging": the sign-in methods (with a nudge to add an
//! authenticator app when there is only a password), recovery codes and trusted computers.
//! Every change needs a sign-in at most `factors.reauth_secs` old (else the password is asked
//! again) and mails the person (see `auth::factors`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::authorize::sign_in_for_own_page;
use super::error::{internal_page, page, render};
use super::extract;
use super::second_factor::{enrol_page, say};
use crate::app::AppState;
use crate::auth::factors;
use crate::auth::levels::{self, Channel, Level};
use crate::auth::session;
use crate::crypto;
use crate::oidc::params::Params;
use crate::signin::Fresh;
use crate::store::{Account, FactorKind, Session};
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(overview))
        .route("/account/activiteit", get(activity))
        .route("/account/app", get(app_form).post(app_submit))
        .route("/account/telefoon", get(phone_form).post(phone_submit))
        .route("/account/telefoon/bevestigen", post(phone_confirm))
        .route("/account/passkey", get(passkey_form).post(passkey_submit))
        .route("/account/verwijderen", post(remove_factor))
        .route("/account/herstelcodes", post(recovery_codes))
        .route("/account/apparaat-intrekken", post(revoke_device))
}

/// The signed-in person, or the response that sends them to sign in (again).
struct SignedIn {
    account: Account,
    session: Session,
    csrf: String,
    locale: Locale,
}

/// What a page needs of the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Looking: any session.
    View,
    /// Adding, removing or replacing factors: see [`signed_in`].
    Change,
    /// Taking trust away (revoking a computer): recent, but allowed after a reset by mail too.
    Protect,
}

/// The forms' CSRF token: derived from the session cookie value, which only this browser and
/// we know (the cookie is HttpOnly and SameSite=Lax).
fn csrf_for(cookie: &str) -> String {
    crypto::token_digest(&format!("account-csrf:{cookie}"))
}

async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    return_to: &str,
    need: Need,
) -> Result<SignedIn, Response> {
    let locale = extract::locale(headers, None);
    let now = state.clock.unix();
    let cookie = jar.get(session::cookie_name(state)).map(|c| c.value().to_string());
    let session: Option<Session> = match session::find(state, cookie.as_deref(), now).await {
        Ok(s) => s,
        Err(e) => return Err(internal_page(state, locale, e)),
    };
    let Some(session) = session else {
        return Err(sign_in_for_own_page(state, jar.clone(), return_to, Fresh::First, locale).await);
    };
    let account = match state.store.account_by_id(&session.account_id).await {
        Ok(Some(a)) if !a.disabled => a,
        Ok(_) => return Err(page(state, locale, StatusCode::FORBIDDEN, "login_expired")),
        Err(e) => return Err(internal_page(state, locale, e)),
    };
    if need != Need::View {
        // A change needs what the account can prove: with a second factor, that factor, proved
        // within `reauth_secs` (so a password alone cannot add, remove or replace factors);
        // without one, a recent password, and not one that the mailbox chose.
        let has_factors = match factors::confirmed(state, &account).await {
            Ok(f) => !f.is_empty(),
            Err(e) => return Err(internal_page(state, locale, e)),
        };
        // Without an enrolled factor, the account's organisation may still sign it in with a
        // mailed token: then that token, not the password alone, guards changes.
        let mail_guards = !has_factors && {
            let policies = match crate::signin::policy::policies(state, None, Some(&account.id)).await {
                Ok(p) => p,
                Err(e) => return Err(internal_page(state, locale, e)),
            };
            crate::signin::policy::mailed_token_accepted(&policies)
        };
        let window = state.config.factors.reauth_secs;
        let recent = |proves: &dyn Fn(&levels::FactorUse) -> bool| {
            session.factors.iter().filter(|f| proves(f)).map(|f| f.at).max().is_some_and(|t| now - t <= window)
        };
        let fresh = if has_factors {
            // One of the enrolled kinds (app, phone, passkey, recovery code): a mailed token
            // proves only the mailbox, which may be how someone got the password.
            recent(&|f| !matches!(f.channel, Channel::Knowledge | Channel::Email))
        } else if mail_guards {
            recent(&|f| f.method == levels::Method::Email)
        } else {
            now - session.auth_time <= window
        };
        if !fresh {
            let needs_factor = has_factors || mail_guards;
            let how = if needs_factor && now - session.auth_time <= window {
                Fresh::Factor
            } else {
                Fresh::Again(needs_factor.then_some(Level::TwoFactor))
            };
            return Err(sign_in_for_own_page(state, jar.clone(), return_to, how, locale).await);
        }
        if need == Need::Change && !has_factors && account.password_via_mail {
            return Err(page(state, locale, StatusCode::FORBIDDEN, "account_mail_reset_locked"));
        }
    }
    Ok(SignedIn { account, session, csrf: csrf_for(cookie.as_deref().unwrap_or_default()), locale })
}

/// The person just proved a factor (by confirming it): the session is replaced by one that
/// includes it, so the next change does not ask for it again. Returns the cookie jar to send
/// and the signed-in person with the new session's CSRF token.
async fn with_proved(
    state: &AppState,
    jar: CookieJar,
    who: SignedIn,
    used: levels::FactorUse,
) -> Result<(CookieJar, SignedIn), Response> {
    let now = state.clock.unix();
    let mut uses = who.session.factors.clone();
    uses.push(used);
    let sign_in = session::SignedIn {
        account: &who.account,
        factors: uses,
        auth_time: who.session.auth_time,
        previous: Some(&who.session),
        portal: None,
    };
    let started = session::start(state, sign_in, now).await;
    let (token, next) = started.map_err(|e| internal_page(state, who.locale, e))?;
    let csrf = csrf_for(&token);
    let jar = jar.add(extract::cookie(state, session::cookie_name(state), token));
    Ok((jar, SignedIn { session: next, csrf, ..who }))
}

/// After a factor was added: the session includes it, and the overview says so.
async fn added(state: &AppState, jar: CookieJar, who: SignedIn, used: levels::FactorUse, notice: &str) -> Response {
    match with_proved(state, jar, who, used).await {
        Ok((jar, who)) => (jar, show(state, &who, Some(notice), Vec::new()).await).into_response(),
        Err(response) => response,
    }
}

/// A submitted account form: signed in recently, with the page's CSRF token.
async fn submitted(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    body: &[u8],
    need: Need,
) -> Result<(SignedIn, Params), Response> {
    let who = signed_in(state, headers, jar, "/account", need).await?;
    let form = extract::form(headers, body)
        .map_err(|_| page(state, who.locale, StatusCode::BAD_REQUEST, "error_bad_request"))?;
    if !crypto::constant_time_eq(form.get("csrf").unwrap_or_default().as_bytes(), who.csrf.as_bytes()) {
        return Err(page(state, who.locale, StatusCode::BAD_REQUEST, "login_expired"));
    }
    Ok((who, form))
}

#[derive(Serialize)]
struct FactorRow {
    id: String,
    name: String,
    added: String,
}

#[derive(Serialize)]
struct DeviceRow {
    id: String,
    label: String,
    until: String,
}

#[derive(Serialize)]
struct Overview {
    csrf: String,
    name: String,
    username: String,
    nudge: bool,
    factors: Vec<FactorRow>,
    recovery_text: String,
    devices: Vec<DeviceRow>,
    notice: Option<String>,
    codes: Vec<String>,
    /// Passkeys can be added (the IdP runs on a domain name).
    passkeys: bool,
}

fn date(unix: i64) -> String {
    let format = time::macros::format_description!("[day]-[month]-[year]");
    time::OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

async fn show(state: &AppState, who: &SignedIn, notice: Option<&str>, codes: Vec<String>) -> Response {
    let now = state.clock.unix();
    let loaded = async {
        let factors = factors::confirmed(state, &who.account).await?;
        let left = state.store.recovery_codes_left(&who.account.id).await?;
        let devices = state.store.trusted_devices(&who.account.id, now).await?;
        Ok::<_, factors::FactorError>((factors, left, devices))
    }
    .await;
    let (list, recovery_left, devices) = match loaded {
        Ok(l) => l,
        Err(e) => return internal_page(state, who.locale, e),
    };
    let context = Overview {
        csrf: who.csrf.clone(),
        name: format!("{} {}", who.account.given_name, who.account.family_name),
        username: who.account.username.clone(),
        nudge: list.is_empty(),
        factors: list
            .iter()
            .map(|f| FactorRow {
                id: f.id.clone(),
                name: match f.kind {
                    FactorKind::Totp => state.templates.text(who.locale, "method_totp"),
                    FactorKind::Sms | FactorKind::Voice => f.label.clone(),
                    FactorKind::Passkey => state.templates.text(who.locale, "method_passkey"),
                },
                added: date(f.confirmed_at.unwrap_or(f.created_at)),
            })
            .collect(),
        recovery_text: state
            .templates
            .text(who.locale, "account_recovery_left")
            .replace("{n}", &recovery_left.to_string()),
        devices: devices
            .into_iter()
            .map(|d| DeviceRow { id: d.id, label: d.label, until: date(d.expires_at) })
            .collect(),
        notice: notice.map(|k| say(state, who.locale, k)),
        codes,
        passkeys: state.passkeys.is_some(),
    };
    render(state, who.locale, StatusCode::OK, "account", &context)
}

async fn overview(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    match signed_in(&state, &headers, &jar, "/account", Need::View).await {
        Ok(who) => show(&state, &who, None, Vec::new()).await,
        Err(response) => response,
    }
}

/// How many events "Activiteit" shows.
const ACTIVITY_ROWS: i64 = 50;
/// The time zone in which the IdP shows times to people (Dutch care organisations).
const DISPLAY_TIME_ZONE: &str = "Europe/Amsterdam";

#[derive(Serialize)]
struct ActivityRow {
    /// `2026-12-03T09:15` for `<time datetime>`, and as people read it.
    datetime: String,
    when: String,
    what: String,
    /// The portal, by name, when the event happened through one.
    portal: Option<String>,
    address: Option<String>,
    failed: bool,
}

/// "Activiteit": the person's own sign-ins, factor changes and the portals that received tokens.
async fn activity(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    let who = match signed_in(&state, &headers, &jar, "/account/activiteit", Need::View).await {
        Ok(w) => w,
        Err(response) => return response,
    };
    let now = state.clock.unix();
    let records = match state.audit.own_activity(state.store.as_ref(), &who.account, ACTIVITY_ROWS, now).await {
        Ok(r) => r,
        Err(e) => return internal_page(&state, who.locale, e),
    };
    let zone = jiff::tz::TimeZone::get(DISPLAY_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut rows = Vec::with_capacity(records.len());
    for r in records {
        let local = jiff::Timestamp::from_second(r.time).map(|t| t.to_zoned(zone.clone())).ok();
        let portal = match &r.client_id {
            Some(id) => match state.client(id).await {
                Ok(c) => Some(c.map(|c| c.name.clone()).unwrap_or_else(|| id.clone())),
                Err(e) => return internal_page(&state, who.locale, e),
            },
            None => None,
        };
        let key = format!("activity_{}", r.event_type.replace('.', "_"));
        let what = state.templates.text(who.locale, &key);
        rows.push(ActivityRow {
            datetime: local.as_ref().map(|z| z.strftime("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
            when: local.as_ref().map(|z| z.strftime("%d-%m-%Y %H:%M").to_string()).unwrap_or_default(),
            what: if what == key { r.event_type.clone() } else { what },
            portal,
            address: r.client_address,
            failed: r.outcome != "success",
        });
    }
    let context =
        serde_json::json!({ "rows": rows, "name": format!("{} {}", who.account.given_name, who.account.family_name) });
    render(&state, who.locale, StatusCode::OK, "account_activity", &context)
}

async fn app_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    let who = match signed_in(&state, &headers, &jar, "/account/app", Need::Change).await {
        Ok(w) => w,
        Err(response) => return response,
    };
    let factor = match factors::start_totp(&state, &who.account, state.clock.unix()).await {
        Ok(f) => f,
        Err(e) => return internal_page(&state, who.locale, e),
    };
    enrol_page(
        &state,
        who.locale,
        StatusCode::OK,
        "/account/app",
        &factor.id,
        &who.csrf,
        &who.account,
        &factor.id,
        None,
    )
    .await
}

async fn app_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, form) = match submitted(&state, &headers, &jar, &body, Need::Change).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let factor_id = form.get("interaction").unwrap_or_default().to_string();
    let again = |key| {
        enrol_page(
            &state,
            who.locale,
            StatusCode::UNAUTHORIZED,
            "/account/app",
            &factor_id,
            &who.csrf,
            &who.account,
            &factor_id,
            Some(key),
        )
    };
    match factors::take_try(&state, &who.account).await {
        Ok(true) => {}
        Ok(false) => return again("factor_throttled").await,
        Err(e) => return internal_page(&state, who.locale, e),
    }
    let code = form.get("code").unwrap_or_default();
    match factors::confirm_totp(&state, &who.account, &factor_id, code, who.locale, state.clock.unix()).await {
        Ok(Some(used)) => {
            if let Err(e) = factors::clear_tries(&state, &who.account).await {
                return internal_page(&state, who.locale, e);
            }
            added(&state, jar, who, used, "account_app_added").await
        }
        Ok(None) => again("enrol_wrong").await,
        Err(e) => internal_page(&state, who.locale, e),
    }
}

async fn remove_factor(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, form) = match submitted(&state, &headers, &jar, &body, Need::Change).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let id = form.get("factor").unwrap_or_default();
    match factors::remove(&state, &who.account, id, who.locale, state.clock.unix()).await {
        Ok(true) => show(&state, &who, Some("account_removed"), Vec::new()).await,
        Ok(false) => Redirect::to("/account").into_response(),
        Err(e) => internal_page(&state, who.locale, e),
    }
}

async fn recovery_codes(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, _) = match submitted(&state, &headers, &jar, &body, Need::Change).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    // Recovery codes stand in for a factor: without one, they would be a way to add one.
    match factors::confirmed(&state, &who.account).await {
        Ok(f) if f.is_empty() => return show(&state, &who, Some("account_codes_need_factor"), Vec::new()).await,
        Ok(_) => {}
        Err(e) => return internal_page(&state, who.locale, e),
    }
    match factors::new_recovery_codes(&state, &who.account, who.locale, state.clock.unix()).await {
        Ok(codes) => show(&state, &who, Some("account_codes_made"), codes).await,
        Err(e) => internal_page(&state, who.locale, e),
    }
}

async fn revoke_device(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, form) = match submitted(&state, &headers, &jar, &body, Need::Protect).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let id = form.get("device").unwrap_or_default();
    match factors::revoke_device(&state, &who.account, id, state.clock.unix()).await {
        Ok(true) => show(&state, &who, Some("account_device_revoked"), Vec::new()).await,
        Ok(false) => Redirect::to("/account").into_response(),
        Err(e) => internal_page(&state, who.locale, e),
    }
}

#[derive(Serialize)]
struct PhonePage<'a> {
    csrf: &'a str,
    /// What was typed (kept after an error).
    number: &'a str,
    /// Set once a code was sent: the pending factor and the masked number.
    factor: Option<String>,
    masked: Option<String>,
    confirm_label: Option<String>,
    error: Option<String>,
}

fn phone_page(state: &AppState, who: &SignedIn, status: StatusCode, page: PhonePage<'_>) -> Response {
    render(state, who.locale, status, "phone", &page)
}

async fn phone_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    let who = match signed_in(&state, &headers, &jar, "/account/telefoon", Need::Change).await {
        Ok(w) => w,
        Err(response) => return response,
    };
    let page = PhonePage { csrf: &who.csrf, number: "", factor: None, masked: None, confirm_label: None, error: None };
    phone_page(&state, &who, StatusCode::OK, page)
}

async fn phone_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, form) = match submitted(&state, &headers, &jar, &body, Need::Change).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let number = form.get("phone").unwrap_or_default().trim().to_string();
    let Ok(phone) = crate::sms::parse_phone(&number) else {
        let error = Some(state.templates.text(who.locale, "phone_invalid"));
        let page =
            PhonePage { csrf: &who.csrf, number: &number, factor: None, masked: None, confirm_label: None, error };
        return phone_page(&state, &who, StatusCode::BAD_REQUEST, page);
    };
    let factor = factors::new_phone_factor(&who.account, &phone, state.clock.unix());
    let sent = async {
        let slot = factors::enrol_slot(&factor.id);
        let sent = factors::send_phone_code(&state, &who.account, &factor, &slot, who.locale).await?;
        if sent == factors::Sent::Sent {
            state.store.add_factor(&factor).await?;
        }
        Ok::<_, factors::FactorError>(sent)
    }
    .await;
    let refused = |status, key| {
        let error = Some(say(&state, who.locale, key));
        let page =
            PhonePage { csrf: &who.csrf, number: &number, factor: None, masked: None, confirm_label: None, error };
        phone_page(&state, &who, status, page)
    };
    match sent {
        Ok(factors::Sent::Sent) => confirm_page(&state, &who, StatusCode::OK, &factor.id, &factor.label, None),
        Ok(factors::Sent::Throttled) => refused(StatusCode::TOO_MANY_REQUESTS, "code_send_throttled"),
        // Not the person's mistake, and a page they must see (a proxy may replace 5xx pages).
        Ok(factors::Sent::Failed) => refused(StatusCode::OK, "code_send_failed"),
        Err(e) => internal_page(&state, who.locale, e),
    }
}

fn confirm_page(
    state: &AppState,
    who: &SignedIn,
    status: StatusCode,
    factor: &str,
    masked: &str,
    error: Option<&str>,
) -> Response {
    let page = PhonePage {
        csrf: &who.csrf,
        number: "",
        factor: Some(factor.to_string()),
        masked: Some(masked.to_string()),
        confirm_label: Some(state.templates.text(who.locale, "phone_confirm").replace("{phone}", masked)),
        error: error.map(|k| say(state, who.locale, k)),
    };
    phone_page(state, who, status, page)
}

async fn phone_confirm(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, form) = match submitted(&state, &headers, &jar, &body, Need::Change).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let factor_id = form.get("factor").unwrap_or_default().to_string();
    let masked = match factors::pending_phone(&state, &who.account, &factor_id).await {
        Ok(Some(f)) => f.label,
        Ok(None) => return Redirect::to("/account/telefoon").into_response(),
        Err(e) => return internal_page(&state, who.locale, e),
    };
    match factors::take_try(&state, &who.account).await {
        Ok(true) => {}
        Ok(false) => {
            return confirm_page(
                &state,
                &who,
                StatusCode::TOO_MANY_REQUESTS,
                &factor_id,
                &masked,
                Some("factor_throttled"),
            )
        }
        Err(e) => return internal_page(&state, who.locale, e),
    }
    let code = form.get("code").unwrap_or_default();
    match factors::confirm_phone(&state, &who.account, &factor_id, code, who.locale, state.clock.unix()).await {
        Ok(Ok(used)) => {
            if let Err(e) = factors::clear_tries(&state, &who.account).await {
                return internal_page(&state, who.locale, e);
            }
            added(&state, jar, who, used, "phone_added").await
        }
        Ok(Err(crate::auth::otp::Checked::Wrong)) => {
            confirm_page(&state, &who, StatusCode::UNAUTHORIZED, &factor_id, &masked, Some("factor_wrong"))
        }
        Ok(Err(_)) => confirm_page(&state, &who, StatusCode::UNAUTHORIZED, &factor_id, &masked, Some("code_exhausted")),
        Err(e) => internal_page(&state, who.locale, e),
    }
}

#[derive(Serialize)]
struct PasskeyPage<'a> {
    csrf: &'a str,
    interaction: Option<String>,
    passkey_options: Option<String>,
    passkey_action: &'static str,
    passkey_mode: &'static str,
    passkey_button: String,
    error: Option<String>,
}

/// The registration ceremony of this session waits under this slot.
fn registration_slot(who: &SignedIn) -> String {
    format!("register:{}", who.csrf)
}

async fn passkey_page(state: &AppState, who: &SignedIn, status: StatusCode, error: Option<&str>) -> Response {
    let options = match factors::start_passkey_registration(state, &who.account, &registration_slot(who)).await {
        Ok(Some(Ok(options))) => Some(options.to_string()),
        Ok(Some(Err(_))) | Ok(None) => None,
        Err(e) => return internal_page(state, who.locale, e),
    };
    let page = PasskeyPage {
        csrf: &who.csrf,
        interaction: None,
        passkey_options: options,
        passkey_action: "/account/passkey",
        passkey_mode: "register",
        passkey_button: state.templates.text(who.locale, "passkey_register_button"),
        error: error.map(|k| say(state, who.locale, k)),
    };
    render(state, who.locale, status, "passkey", &page)
}

async fn passkey_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    match signed_in(&state, &headers, &jar, "/account/passkey", Need::Change).await {
        Ok(who) => passkey_page(&state, &who, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

async fn passkey_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    let (who, form) = match submitted(&state, &headers, &jar, &body, Need::Change).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let response = form.get("response").unwrap_or_default();
    let slot = registration_slot(&who);
    match factors::finish_passkey_registration(&state, &who.account, &slot, response, who.locale, state.clock.unix())
        .await
    {
        Ok(Ok(used)) => added(&state, jar, who, used, "account_passkey_added").await,
        Ok(Err(e)) => {
            let key = format!("passkey_error_{}", e.code());
            passkey_page(&state, &who, StatusCode::BAD_REQUEST, Some(&key)).await
        }
        Err(e) => internal_page(&state, who.locale, e),
    }
}
