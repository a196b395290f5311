//! The account page, "Privacy en beveiliging": the sign-in methods (with a nudge to add an
//! authenticator app when there is only a password), recovery codes, trusted computers and
//! "Activiteit". The use cases are `account`: each page calls [`account::open`], each form
//! [`account::change`], and the answer is rendered here.

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
use super::interaction::status;
use super::second_factor::{enrol_page, say};
use crate::account::{self, Activity, Again, Answer, Change, Overview, Page, Posted, Refusal, SignedIn, View};
use crate::app::AppState;
use crate::auth::session;
use crate::oidc::params::Params;
use crate::store::FactorKind;
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
        .route("/account/vertegenwoordiging-beeindigen", get(confirm_end).post(end_representation))
}

async fn overview(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    opened(state, headers, jar, View::Overview, "/account").await
}

async fn activity(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    opened(state, headers, jar, View::Activity, "/account/activiteit").await
}

async fn app_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    opened(state, headers, jar, View::App, "/account/app").await
}

async fn phone_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    opened(state, headers, jar, View::Phone, "/account/telefoon").await
}

async fn passkey_form(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Response {
    opened(state, headers, jar, View::Passkey, "/account/passkey").await
}

async fn app_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |f| Change::ConfirmApp {
        factor: field(f, "interaction"),
        code: field(f, "code"),
    })
    .await
}

async fn phone_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |f| Change::AddPhone { number: field(f, "phone").trim() }).await
}

async fn phone_confirm(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |f| Change::ConfirmPhone { factor: field(f, "factor"), code: field(f, "code") })
        .await
}

async fn passkey_submit(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |f| Change::AddPasskey { response: field(f, "response") }).await
}

async fn remove_factor(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |f| Change::RemoveFactor { factor: field(f, "factor") }).await
}

async fn recovery_codes(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |_| Change::RecoveryCodes).await
}

async fn revoke_device(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar, body: Bytes) -> Response {
    posted(state, headers, jar, body, |f| Change::RevokeDevice { device: field(f, "device") }).await
}

async fn confirm_end(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let locale = extract::locale(&headers, None);
    let params = Params::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let id = field(&params, "id");
    let answer = account::confirm_end(&state, extract::session_value(&state, &jar), id).await;
    respond(&state, jar, locale, "/account", answer).await
}

async fn end_representation(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    posted(state, headers, jar, body, |f| Change::EndRepresentation { representation: field(f, "representation") })
        .await
}

fn field<'a>(form: &'a Params, name: &str) -> &'a str {
    form.get(name).unwrap_or_default()
}

/// A page (`return_to`: its path, where a sign-in comes back to).
async fn opened(state: AppState, headers: HeaderMap, jar: CookieJar, view: View, return_to: &str) -> Response {
    let locale = extract::locale(&headers, None);
    let answer = account::open(&state, extract::session_value(&state, &jar), view).await;
    respond(&state, jar, locale, return_to, answer).await
}

/// A form: the change it asks, read from the body (empty when the body is no form).
async fn posted(
    state: AppState,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
    change: impl for<'a> FnOnce(&'a Params) -> Change<'a>,
) -> Response {
    let locale = extract::locale(&headers, None);
    let form = extract::form(&headers, &body);
    let readable = form.is_ok();
    let form = form.unwrap_or_default();
    let posted = Posted { readable, csrf: field(&form, "csrf"), change: change(&form) };
    let answer = account::change(&state, extract::session_value(&state, &jar), locale, posted).await;
    respond(&state, jar, locale, "/account", answer).await
}

async fn respond(
    state: &AppState,
    jar: CookieJar,
    locale: Locale,
    return_to: &str,
    answer: Result<Answer, account::Error>,
) -> Response {
    let shown = match answer {
        Ok(Answer::Shown(shown)) => *shown,
        Ok(Answer::SignIn(how)) => return sign_in_for_own_page(state, jar, return_to, how, locale).await,
        Ok(Answer::Refused(refusal)) => {
            let (status, key) = match refusal {
                Refusal::Disabled => (StatusCode::FORBIDDEN, "login_expired"),
                Refusal::MailResetLocked => (StatusCode::FORBIDDEN, "account_mail_reset_locked"),
                Refusal::Unreadable => (StatusCode::BAD_REQUEST, "error_bad_request"),
                Refusal::Forged => (StatusCode::BAD_REQUEST, "login_expired"),
            };
            return page(state, locale, status, key);
        }
        Err(e) => return internal_page(state, locale, e),
    };
    let account::Shown { who, page, session } = shown;
    let jar = match session {
        Some(token) => jar.add(extract::cookie(state, session::cookie_name(state), token)),
        None => jar,
    };
    let response = match page {
        Page::Overview { overview, notice, codes } => show(state, locale, &who, &overview, notice, codes),
        Page::Activity(rows) => activity_page(state, locale, &who, rows),
        Page::App { factor, again } => {
            let (status, error) = again_status(again.as_ref());
            enrol_page(state, locale, status, "/account/app", &factor, &who.csrf, &who.account, &factor, error).await
        }
        Page::Phone { number, again } => {
            let error = again.as_ref().map(|a| say(state, locale, &a.say));
            let page =
                PhonePage { csrf: &who.csrf, number: &number, factor: None, masked: None, confirm_label: None, error };
            render(state, locale, again_status(again.as_ref()).0, "phone", &page)
        }
        Page::PhoneCode { factor, masked, again } => {
            let page = PhonePage {
                csrf: &who.csrf,
                number: "",
                confirm_label: Some(state.templates.text(locale, "phone_confirm").replace("{phone}", &masked)),
                factor: Some(factor),
                masked: Some(masked),
                error: again.as_ref().map(|a| say(state, locale, &a.say)),
            };
            render(state, locale, again_status(again.as_ref()).0, "phone", &page)
        }
        Page::Passkey { options, again } => passkey_page(state, locale, &who, options, again.as_ref()),
        Page::ConfirmEnd { listed, for_me } => {
            let name = if for_me { listed.representative.clone() } else { listed.client.full_name() };
            let key = if for_me { "account_end_for_me" } else { "account_end_by_me" };
            let context = serde_json::json!({
                "csrf": who.csrf,
                "id": listed.representation.id.as_str(),
                "for_me": for_me,
                "consequence": state.templates.text(locale, key).replace("{name}", &name),
            });
            render(state, locale, StatusCode::OK, "account_end", &context)
        }
        Page::Back(path) => Redirect::to(path).into_response(),
    };
    (jar, response).into_response()
}

/// The status of a page, and its error's text key, when it is shown again.
fn again_status(again: Option<&Again>) -> (StatusCode, Option<&str>) {
    match again {
        Some(a) => (status(a.why), Some(a.say.as_str())),
        None => (StatusCode::OK, None),
    }
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

/// A representation as the account page lists it.
#[derive(Serialize)]
struct RepresentationRow {
    id: String,
    /// The other person: the representative (for "who may act for me") or the client.
    name: String,
    role: String,
    sections: Vec<String>,
    since: String,
    until: Option<String>,
    in_force: bool,
    /// The person looking may end it here.
    endable: bool,
}

#[derive(Serialize)]
struct OverviewPage {
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
    for_me: Vec<RepresentationRow>,
    by_me: Vec<RepresentationRow>,
}

fn representation_rows(
    state: &AppState,
    locale: Locale,
    listed: &[crate::representation::own::Listed],
    name: impl Fn(&crate::representation::own::Listed) -> String,
    endable: impl Fn(&crate::representation::own::Listed) -> bool,
) -> Vec<RepresentationRow> {
    listed
        .iter()
        .map(|l| {
            let r = &l.representation;
            RepresentationRow {
                id: r.id.to_string(),
                name: name(l),
                role: state.templates.text(locale, &format!("role_{}", r.role)),
                sections: r.sections.iter().map(|s| state.templates.text(locale, &format!("section_{s}"))).collect(),
                since: date(r.granted_at),
                // `ends_at` is the first moment it no longer holds: the last day is the one before.
                until: r.ends_at.map(|end| date(end - 1)),
                in_force: l.in_force,
                endable: endable(l),
            }
        })
        .collect()
}

fn date(unix: i64) -> String {
    let format = time::macros::format_description!("[day]-[month]-[year]");
    time::OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

fn show(
    state: &AppState,
    locale: Locale,
    who: &SignedIn,
    overview: &Overview,
    notice: Option<&str>,
    codes: Vec<String>,
) -> Response {
    let context = OverviewPage {
        csrf: who.csrf.clone(),
        name: format!("{} {}", who.account.given_name, who.account.family_name),
        username: who.account.username.clone(),
        nudge: overview.factors.is_empty(),
        factors: overview
            .factors
            .iter()
            .map(|f| FactorRow {
                id: f.id.clone(),
                name: match f.kind {
                    FactorKind::Totp => state.templates.text(locale, "method_totp"),
                    FactorKind::Sms | FactorKind::Voice => f.label.clone(),
                    FactorKind::Passkey => state.templates.text(locale, "method_passkey"),
                },
                added: date(f.confirmed_at.unwrap_or(f.created_at)),
            })
            .collect(),
        recovery_text: state
            .templates
            .text(locale, "account_recovery_left")
            .replace("{n}", &overview.recovery_left.to_string()),
        devices: overview
            .devices
            .iter()
            .map(|d| DeviceRow { id: d.id.clone(), label: d.label.clone(), until: date(d.expires_at) })
            .collect(),
        notice: notice.map(|k| say(state, locale, k)),
        codes,
        passkeys: state.passkeys.is_some(),
        for_me: representation_rows(
            state,
            locale,
            &overview.representation.for_me,
            |l| l.representative.clone(),
            |l| l.revocable_by_client(),
        ),
        by_me: representation_rows(state, locale, &overview.representation.by_me, |l| l.client.full_name(), |_| true),
    };
    render(state, locale, StatusCode::OK, "account", &context)
}

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
    /// Someone who acted for the person.
    by: Option<String>,
}

/// "Activiteit": the person's own sign-ins, factor changes and the portals that received tokens.
fn activity_page(state: &AppState, locale: Locale, who: &SignedIn, records: Vec<Activity>) -> Response {
    let zone = jiff::tz::TimeZone::get(DISPLAY_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC);
    let rows: Vec<ActivityRow> = records
        .into_iter()
        .map(|r| {
            let local = jiff::Timestamp::from_second(r.time).map(|t| t.to_zoned(zone.clone())).ok();
            let key = format!("activity_{}", r.event_type.replace('.', "_"));
            let what = state.templates.text(locale, &key);
            ActivityRow {
                datetime: local.as_ref().map(|z| z.strftime("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
                when: local.as_ref().map(|z| z.strftime("%d-%m-%Y %H:%M").to_string()).unwrap_or_default(),
                what: if what == key { r.event_type } else { what },
                portal: r.portal,
                address: r.address,
                failed: r.failed,
                by: r.by,
            }
        })
        .collect();
    let context =
        serde_json::json!({ "rows": rows, "name": format!("{} {}", who.account.given_name, who.account.family_name) });
    render(state, locale, StatusCode::OK, "account_activity", &context)
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

fn passkey_page(
    state: &AppState,
    locale: Locale,
    who: &SignedIn,
    options: Option<String>,
    again: Option<&Again>,
) -> Response {
    let (status, error) = again_status(again);
    let page = PasskeyPage {
        csrf: &who.csrf,
        interaction: None,
        passkey_options: options,
        passkey_action: "/account/passkey",
        passkey_mode: "register",
        passkey_button: state.templates.text(locale, "passkey_register_button"),
        error: error.map(|k| say(state, locale, k)),
    };
    render(state, locale, status, "passkey", &page)
}
