//! `/token`, `/introspect` and `/revoke`: form-encoded POSTs answered with JSON.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::error::{no_store, oauth_json, protocol_json};
use super::extract;
use crate::app::AppState;
use crate::oidc::error::ProtocolError;
use crate::oidc::params::Params;
use crate::oidc::{paths, resource, token};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::TOKEN, post(token_endpoint))
        .route(paths::INTROSPECT, post(introspect_endpoint))
        .route(paths::REVOKE, post(revoke_endpoint))
}

/// The shared shape of the three endpoints: read the form and the `Authorization` header, run
/// the use case, answer with `no-store`, or with the RFC 6749 §5.2 error.
async fn form_endpoint<T, F, Fut>(state: AppState, headers: HeaderMap, body: Bytes, use_case: F) -> Response
where
    T: IntoResponse,
    F: FnOnce(AppState, Params, Option<String>) -> Fut,
    Fut: Future<Output = Result<T, ProtocolError>>,
{
    let authorization = extract::header_str(&headers, header::AUTHORIZATION).map(str::to_string);
    let basic_auth_used = authorization.is_some();
    let params = match extract::form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_json(&e, false),
    };
    match use_case(state, params, authorization).await {
        Ok(answer) => (no_store(), answer).into_response(),
        Err(e) => protocol_json(e, basic_auth_used),
    }
}

async fn token_endpoint(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    form_endpoint(state, headers, body, |state, params, auth| async move {
        token::exchange(&state, &params, auth.as_deref()).await.map(Json)
    })
    .await
}

async fn introspect_endpoint(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    form_endpoint(state, headers, body, |state, params, auth| async move {
        resource::introspect(&state, &params, auth.as_deref()).await.map(Json)
    })
    .await
}

async fn revoke_endpoint(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    form_endpoint(state, headers, body, |state, params, auth| async move {
        resource::revoke(&state, &params, auth.as_deref()).await.map(|()| StatusCode::OK)
    })
    .await
}
