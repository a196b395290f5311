//! `/wachtwoord-wijzigen`: an account with a temporary password chooses its own during sign-in
//! (journey B). The current password is asked again, the organisation's rules apply, and then
//! the person signs in with the new password ("Log in om verder te gaan").

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;

use super::authorize::{opened, submitted, Opened, Submitted};
use super::error::{internal_page, page, render, PageError};
use super::{extract, password_form};
use crate::activation::account::Problems;
use crate::app::AppState;
use crate::auth::password;
use crate::auth::password_rules::{birth_date_forms, PasswordRules};
use crate::auth::signin::{self, SignIn};
use crate::crypto;
use crate::domain::{AccountId, Secret};
use crate::oidc::authorize::{interaction_key, Interaction};
use crate::store::Account;
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
) -> Result<Option<(Account, PasswordRules)>, PageError> {
    let Some(id) = &interaction.password_change_for else { return Ok(None) };
    let account_id = AccountId(id.clone());
    let Some(account) = state.store.account_by_id(&account_id).await? else {
        return Ok(None);
    };
    let rules = state.store.policy_for_account(&account_id).await?.map(|p| p.password_rules);
    Ok(Some((account, rules.unwrap_or_default())))
}

#[allow(clippy::too_many_arguments)]
fn change_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    id: &str,
    interaction: &Interaction,
    account: &Account,
    rules: &PasswordRules,
    errors: Vec<String>,
) -> Response {
    let context = ChangePage {
        interaction: id,
        csrf: &interaction.csrf,
        username: &account.username,
        rules: password_form::rule_lines(state, locale, rules),
        rules_json: password_form::rules_json(rules),
        errors,
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
    let id = id.as_str();
    match account_of(&state, &interaction).await {
        Ok(Some((account, rules))) => {
            change_page(&state, locale, StatusCode::OK, id, &interaction, &account, &rules, Vec::new())
        }
        Ok(None) => page(&state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => e.page(&state, locale),
    }
}

async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let Submitted { form, id, mut interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let (account, rules) = match account_of(&state, &interaction).await {
        Ok(Some(found)) => found,
        Ok(None) => return page(&state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return e.page(&state, locale),
    };
    let current = form.get("current_password").unwrap_or_default();
    let new_password = form.get("password").unwrap_or_default();
    let again = |status: StatusCode, errors: Vec<String>| {
        change_page(&state, locale, status, &id, &interaction, &account, &rules, errors)
    };
    // The current password again, through the same throttled check as signing in.
    let ip = extract::client_ip(&state, peer, &headers);
    let device = extract::known_device(&state, &jar);
    let given = Secret::new(current.to_string());
    match signin::with_password(&state, &account.username, given, ip, device.as_deref()).await {
        Ok(SignIn::Success(checked)) if checked.id == account.id => {}
        Ok(SignIn::Throttled) => {
            return again(StatusCode::TOO_MANY_REQUESTS, vec![state.templates.text(locale, "login_throttled")])
        }
        Ok(_) => return again(StatusCode::UNAUTHORIZED, vec![state.templates.text(locale, "current_password_wrong")]),
        Err(e) => return internal_page(&state, locale, e),
    }
    let mut personal = vec![account.username.clone(), account.given_name.clone(), account.family_name.clone()];
    if let Some(date) = &account.birth_date {
        personal.extend(birth_date_forms(date));
    }
    let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
    let problems = Problems {
        username: None,
        password: rules.check(new_password, &personal),
        mismatch: !crypto::constant_time_eq(
            new_password.as_bytes(),
            form.get("password_repeat").unwrap_or_default().as_bytes(),
        ),
    };
    let mut errors = password_form::password_errors(&state, locale, &rules, &problems);
    if crypto::constant_time_eq(new_password.as_bytes(), current.as_bytes()) {
        errors.push(state.templates.text(locale, "password_same_as_old"));
    }
    if !errors.is_empty() {
        return again(StatusCode::BAD_REQUEST, errors);
    }
    let hash = match password::hash(Secret::new(new_password.to_string())).await {
        Ok(h) => h,
        Err(e) => return internal_page(&state, locale, e),
    };
    let asks_question = match state.store.policy_for_account(&account.id).await {
        Ok(policy) => policy.is_some_and(|p| p.secret_question),
        Err(e) => return internal_page(&state, locale, e),
    };
    interaction.password_change_for = None;
    let next = if asks_question {
        interaction.secret_question_for = Some(account.id.0.clone());
        format!("/geheime-vraag?interaction={id}")
    } else {
        format!("/login?interaction={id}&changed=1")
    };
    // The interaction moves on first: should storing the password then fail, the temporary one
    // still works and the next sign-in asks again, instead of a form that rejects it.
    let json = serde_json::to_string(&interaction).expect("interaction serialises");
    if let Err(e) = state.kv.put(&interaction_key(&id), &json, state.config.session.interaction_ttl_secs).await {
        return internal_page(&state, locale, e);
    }
    if let Err(e) = crate::auth::recovery::set_chosen_password(&state, &account, &hash, state.clock.unix()).await {
        return internal_page(&state, locale, e);
    }
    tracing::info!(account = %account.id, "temporary password replaced");
    Redirect::to(&next).into_response()
}

/// `/geheime-vraag`: after the new password, organisations that ask one get a secret question
/// and answer; the password is asked again.
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

async fn question_account(state: &AppState, interaction: &Interaction) -> Result<Option<Account>, PageError> {
    let Some(id) = &interaction.secret_question_for else { return Ok(None) };
    Ok(state.store.account_by_id(&AccountId(id.clone())).await?)
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
    let id = id.as_str();
    match question_account(&state, &interaction).await {
        Ok(Some(account)) => {
            let context = QuestionPage {
                interaction: id,
                csrf: &interaction.csrf,
                username: &account.username,
                question: "",
                error: None,
            };
            render(&state, locale, StatusCode::OK, "secret_question", &context)
        }
        Ok(None) => page(&state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => e.page(&state, locale),
    }
}

async fn question_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let Submitted { form, id, mut interaction, locale } = match submitted(&state, &headers, &jar, &body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let account = match question_account(&state, &interaction).await {
        Ok(Some(account)) => account,
        Ok(None) => return page(&state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return e.page(&state, locale),
    };
    let question = form.get("question").unwrap_or_default().trim();
    let answer = form.get("answer").unwrap_or_default();
    let again = |status: StatusCode, key: &str| {
        let kept = if question.chars().count() > 200 { "" } else { question };
        let context = QuestionPage {
            interaction: &id,
            csrf: &interaction.csrf,
            username: &account.username,
            question: kept,
            error: Some(state.templates.text(locale, key)),
        };
        render(&state, locale, status, "secret_question", &context)
    };
    if question.is_empty() || question.chars().count() > 200 {
        return again(StatusCode::BAD_REQUEST, "question_invalid");
    }
    let normalised = crate::auth::secret_question::normalise_answer(answer);
    if normalised.chars().count() < 3 || normalised.chars().count() > 200 {
        return again(StatusCode::BAD_REQUEST, "answer_invalid");
    }
    let ip = extract::client_ip(&state, peer, &headers);
    let device = extract::known_device(&state, &jar);
    let password = form.get("password").unwrap_or_default();
    let given = Secret::new(password.to_string());
    match signin::with_password(&state, &account.username, given, ip, device.as_deref()).await {
        Ok(SignIn::Success(checked)) if checked.id == account.id => {}
        Ok(SignIn::Throttled) => return again(StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
        Ok(_) => return again(StatusCode::UNAUTHORIZED, "password_wrong"),
        Err(e) => return internal_page(&state, locale, e),
    }
    let hash = match crate::auth::secret_question::hash_answer(answer).await {
        Ok(h) => h,
        Err(e) => return internal_page(&state, locale, e),
    };
    if let Err(e) = state.store.set_secret_question(&account.id, question, &hash).await {
        return internal_page(&state, locale, e);
    }
    interaction.secret_question_for = None;
    let json = serde_json::to_string(&interaction).expect("interaction serialises");
    if let Err(e) = state.kv.put(&interaction_key(&id), &json, state.config.session.interaction_ttl_secs).await {
        return internal_page(&state, locale, e);
    }
    Redirect::to(&format!("/login?interaction={id}&changed=1")).into_response()
}
