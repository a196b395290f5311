//! `/wachtwoord-wijzigen`: an account with a temporary password chooses its own during sign-in
//! (journey B). The current password is asked again, the organisation's rules apply, and then
//! the person signs in with the new password ("Log in om verder te gaan").
//! `/geheime-vraag`: after the new password, organisations that ask one get a secret question
//! and answer; the password is asked again. What happens is `signin`'s: these handlers extract,
//! call it, and render.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::error::{internal_page, page, render};
use super::interaction::{opened, status, step, Opened, Submitted};
use super::password_form;
use crate::app::AppState;
use crate::auth::password_rules::PasswordRules;
use crate::signin::{self, Input, Interaction, Say, Step};
use crate::store::{Account, StoreError};
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new().route("/wachtwoord-wijzigen", get(form).post(submit))
}

#[derive(Serialize)]
struct ChangePage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    username: &'a str,
    rules: Vec<password_form::RuleLine>,
    rules_json: String,
    errors: Vec<String>,
}

/// The account this interaction is changing the password of, and its rules.
async fn account_of(
    state: &AppState,
    interaction: &Interaction,
) -> Result<Option<(Account, PasswordRules)>, StoreError> {
    if !matches!(interaction.step, Step::ChangePassword { .. }) {
        return Ok(None);
    }
    let Some(account) = signin::forced_step_account(state, interaction).await? else { return Ok(None) };
    let rules = signin::password_rules(state, &account).await?;
    Ok(Some((account, rules)))
}

/// The page, with `errors`, for the interaction's account; "start again" when it has none.
async fn change_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    interaction: &Interaction,
    errors: impl FnOnce(&PasswordRules) -> Vec<String>,
) -> Response {
    let (account, rules) = match account_of(state, interaction).await {
        Ok(Some(found)) => found,
        Ok(None) => return page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return internal_page(state, locale, e),
    };
    let context = ChangePage {
        interaction: id,
        csrf: &interaction.csrf,
        username: &account.username,
        rules: password_form::rule_lines(state, locale, &rules),
        rules_json: password_form::rules_json(&rules),
        errors: errors(&rules),
    };
    render(state, locale, status, "password_change", &context)
}

async fn form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { id, interaction, locale, .. } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    change_page(&state, locale, StatusCode::OK, &id, &interaction, |_| Vec::new()).await
}

async fn submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let Submitted { form, id, interaction, locale, .. } = &submitted;
    let locale = *locale;
    let input = Input::NewPassword {
        current: form.get("current_password").unwrap_or_default(),
        new: form.get("password").unwrap_or_default(),
        repeat: form.get("password_repeat").unwrap_or_default(),
    };
    step(&state, &submitted, input, async |stay| {
        let errors = |rules: &PasswordRules| match stay.say {
            Say::Password { problems, same_as_old } => {
                let mut errors = password_form::password_errors(&state, locale, rules, &problems);
                if same_as_old {
                    errors.push(state.templates.text(locale, "password_same_as_old"));
                }
                errors
            }
            Say::Error(key) | Say::Notice(key) => vec![state.templates.text(locale, &key)],
        };
        change_page(&state, locale, status(stay.why), id, interaction, errors).await
    })
    .await
}

pub fn question_routes() -> Router<AppState> {
    Router::new().route("/geheime-vraag", get(question_form).post(question_submit))
}

#[derive(Serialize)]
struct QuestionPage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    username: &'a str,
    question: &'a str,
    error: Option<String>,
}

async fn question_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    interaction: &Interaction,
    question: &str,
    error: Option<String>,
) -> Response {
    let account = match signin::forced_step_account(state, interaction).await {
        Ok(Some(a)) if matches!(interaction.step, Step::SecretQuestion { .. }) => a,
        Ok(_) => return page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return internal_page(state, locale, e),
    };
    let context =
        QuestionPage { interaction: id, csrf: &interaction.csrf, username: &account.username, question, error };
    render(state, locale, status, "secret_question", &context)
}

async fn question_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { id, interaction, locale, .. } = match opened(&state, query.as_deref(), &headers, &jar).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    question_page(&state, locale, StatusCode::OK, &id, &interaction, "", None).await
}

async fn question_submit(State(state): State<AppState>, submitted: Submitted) -> Response {
    let Submitted { form, id, interaction, locale, .. } = &submitted;
    let locale = *locale;
    let question = form.get("question").unwrap_or_default();
    let input = Input::SecretQuestion {
        question,
        answer: form.get("answer").unwrap_or_default(),
        password: form.get("password").unwrap_or_default(),
    };
    step(&state, &submitted, input, async |stay| {
        let error = stay.say.key().map(|key| state.templates.text(locale, key));
        // What the person typed stays, unless it was too long to be a question.
        let question = question.trim();
        let kept = if question.chars().count() > 200 { "" } else { question };
        question_page(&state, locale, status(stay.why), id, interaction, kept, error).await
    })
    .await
}
