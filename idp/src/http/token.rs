//! `/token`, `/introspect` and `/revoke`: form-encoded POSTs answered with JSON.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::error::{no_store, oauth_json, protocol_json};
use super::extract;
use crate::app::AppState;
use crate::oidc::{paths, resource, token};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::TOKEN, post(token_endpoint))
        .route(paths::INTROSPECT, post(introspect_endpoint))
        .route(paths::REVOKE, post(revoke_endpoint))
}

async fn token_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = extract::header_str(&headers, header::AUTHORIZATION);
    let params = match extract::form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_json(&e, false),
    };
    match token::exchange(&state, &params, authorization).await {
        Ok(response) => (no_store(), Json(response)).into_response(),
        Err(e) => protocol_json(e, authorization.is_some()),
    }
}

async fn introspect_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = extract::header_str(&headers, header::AUTHORIZATION);
    let params = match extract::form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_json(&e, false),
    };
    match resource::introspect(&state, &params, authorization).await {
        Ok(response) => (no_store(), Json(response)).into_response(),
        Err(e) => protocol_json(e, authorization.is_some()),
    }
}

async fn revoke_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = extract::header_str(&headers, header::AUTHORIZATION);
    let params = match extract::form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_json(&e, false),
    };
    match resource::revoke(&state, &params, authorization).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => protocol_json(e, authorization.is_some()),
    }
}
