//! "Namens wie wilt u inloggen?" (`/namens`): after signing in, someone who may open more than
//! one person's portal at the organisation chooses whose (docs/representation.md). One button
//! per person: no JavaScript, large targets on a phone.

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
use crate::auth::session;
use crate::signin::{self, Input, Interaction, WhoseOption};
use crate::ui::Locale;

pub fn routes() -> Router<AppState> {
    Router::new().route("/namens", get(form).post(submit))
}

#[derive(Serialize)]
struct WhosePage<'a> {
    interaction: &'a str,
    csrf: &'a str,
    client_name: Option<String>,
    options: Vec<Shown>,
    refused: bool,
    error: Option<String>,
}

/// An option as the page shows it, its role in the page's language.
#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    option: WhoseOption,
    role_label: Option<String>,
}

async fn show(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    id: &str,
    interaction: &Interaction,
    code: StatusCode,
    error: Option<String>,
) -> Response {
    let cookie = jar.get(session::cookie_name(state)).map(|c| c.value().to_string());
    let (options, refused) = match signin::whose_portal_view(state, interaction, cookie.as_deref()).await {
        Ok(Some(view)) => view,
        Ok(None) => return page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
        Err(e) => return internal_page(state, locale, e),
    };
    let client_name = match interaction.portal() {
        Some(portal) => state.client(portal.as_str()).await.ok().flatten().map(|c| c.name.clone()),
        None => None,
    };
    let options = options
        .into_iter()
        .map(|option| {
            let role_label = option.role.map(|role| state.templates.text(locale, &format!("role_{role}")));
            Shown { option, role_label }
        })
        .collect();
    let context = WhosePage { interaction: id, csrf: &interaction.csrf, client_name, options, refused, error };
    render(state, locale, code, "acting_for", &context)
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
    show(&state, &jar, locale, &id, &interaction, StatusCode::OK, None).await
}

async fn submit(State(state): State<AppState>, jar: CookieJar, submitted: Submitted) -> Response {
    let Submitted { form, id, interaction, locale, .. } = &submitted;
    let input = Input::ActingFor { choice: form.get("choice").unwrap_or_default() };
    step(&state, &submitted, input, async |stay| {
        let error = stay.say.key().map(|key| state.templates.text(*locale, key));
        show(&state, &jar, *locale, id, interaction, status(stay.why), error).await
    })
    .await
}
