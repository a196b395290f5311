//! The second step of a sign-in (`/tweede-stap`) and, when an organisation requires two factors
//! of someone who has none yet, enrolling an authenticator app on the spot (`/tweede-stap/app`,
//! journey A). What happens is `signin`'s: these handlers extract, call it, and render.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::error::{internal_page, page, render};
use super::interaction::{opened, status, step, Opened, Submitted};
use crate::app::AppState;
use crate::auth::factors::{self, Options, SecondStep};
use crate::signin::{self, Input, Interaction, Say, SecondStepView, SecondView, Stay, Step};
use crate::store::Account;
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tweede-stap", get(second_form).post(second_submit))
        .route("/tweede-stap/app", get(enrol_form).post(enrol_submit))
        .route("/tweede-stap/passkey", axum::routing::post(passkey_submit))
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

#[derive(Serialize)]
struct SecondPage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    method: &'a str,
    options: &'a Options,
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

/// The second step's page for `view`, saying what `shown` says.
fn second_page(
    state: &AppState,
    locale: Locale,
    id: &str,
    interaction: &Interaction,
    view: &SecondStepView,
    shown: Option<&Stay>,
) -> Response {
    let ctx = &view.context;
    let method = view.method;
    let trust_label = (ctx.allowed.trusted_device_days > 0 && method != SecondStep::Recovery).then(|| {
        match ctx.allowed.trusted_device_days {
            // The seed manuals' words: "Vertrouw deze computer voor een week".
            7 => state.templates.text(locale, "trust_device_week"),
            days => state.templates.text(locale, "trust_device").replace("{days}", &days.to_string()),
        }
    });
    let (error, notice) = match shown.map(|s| &s.say) {
        Some(Say::Error(key)) => (Some(say(state, locale, key)), None),
        Some(Say::Notice(key)) => (None, Some(say(state, locale, key))),
        _ => (None, None),
    };
    let context = SecondPage {
        interaction: id,
        csrf: &interaction.csrf,
        method: method.as_str(),
        options: &ctx.options,
        phone: ctx.options.phones.first().map(|p| p.masked.clone()),
        trust_label,
        error,
        notice,
        alternatives: ctx.options.available().count() > 1,
        passkey_options: view.passkey_options.clone(),
        passkey_action: "/tweede-stap/passkey",
        passkey_mode: "authenticate",
        passkey_button: state.templates.text(locale, "passkey_sign_in_button"),
    };
    render(state, locale, shown.map_or(StatusCode::OK, |s| status(s.why)), "second_factor", &context)
}

/// Shows the second step (for `asked`, or the first method offered), saying what `shown` says.
async fn show_second(
    state: &AppState,
    locale: Locale,
    id: &str,
    interaction: &Interaction,
    asked: Option<&str>,
    shown: Option<Stay>,
) -> Response {
    let first_show = shown.is_none();
    let mut interaction = interaction.clone();
    match signin::second_step_view(state, id, &mut interaction, asked, locale, first_show).await {
        Ok(Some(SecondView::Show(view))) => {
            let shown = shown.as_ref().or(view.sent.as_ref());
            second_page(state, locale, id, &interaction, &view, shown)
        }
        Ok(Some(SecondView::Enrol(location))) => super::redirect::see_other(&location),
        Ok(Some(SecondView::NoFactor)) => page(state, locale, StatusCode::FORBIDDEN, "no_factor"),
        Ok(None) => page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => internal_page(state, locale, e),
    }
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
    if matches!(interaction.step, Step::Enrol(_)) {
        // Nothing to choose from: enrolment is the second step.
        return super::redirect::see_other(&interaction.step.location(&id));
    }
    show_second(&state, locale, &id, &interaction, params.get("method"), None).await
}

/// Runs the input and renders: the second step again, with what to say, when it stays.
async fn second_input(state: &AppState, submitted: &Submitted, input: Input<'_>) -> Response {
    let Submitted { form, id, interaction, locale, .. } = submitted;
    step(state, submitted, input, async |stay| {
        let asked = stay.method.map(SecondStep::as_str).or(form.get("method"));
        show_second(state, *locale, id, interaction, asked, Some(stay)).await
    })
    .await
}

async fn second_submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let form = &submitted.form;
    let method = form.get("method");
    let input = if form.get("action") == Some("resend") {
        Input::Resend { method }
    } else {
        Input::Code { method, code: form.get("code").unwrap_or_default(), trust: form.get("trust") == Some("yes") }
    };
    second_input(&state, &submitted, input).await
}

/// The answer of the browser's passkey (from `passkey.js`).
async fn passkey_submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let input = Input::Passkey { response: submitted.form.get("response").unwrap_or_default() };
    second_input(&state, &submitted, input).await
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
    show_enrol(&state, locale, StatusCode::OK, &id, &mut interaction, None).await
}

async fn show_enrol(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    interaction: &mut Interaction,
    error: Option<&str>,
) -> Response {
    match signin::enrolment(state, id, interaction).await {
        Ok(Some(Ok((account, factor_id)))) => {
            enrol_page(state, locale, status, "/tweede-stap/app", id, &interaction.csrf, &account, &factor_id, error)
                .await
        }
        Ok(Some(Err(()))) => page(state, locale, StatusCode::FORBIDDEN, "no_factor"),
        Ok(None) => page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => internal_page(state, locale, e),
    }
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

async fn enrol_submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let input = Input::EnrolCode { code: submitted.form.get("code").unwrap_or_default() };
    let (id, locale) = (&submitted.id, submitted.locale);
    let mut kept = submitted.interaction.clone();
    step(&state, &submitted, input, async |stay| {
        show_enrol(&state, locale, status(stay.why), id, &mut kept, stay.say.key()).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::factors::Options;
    use crate::signin::choose;

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
