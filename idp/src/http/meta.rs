//! Discovery, JWKS and the health check: cheap, cacheable answers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::oidc::paths;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, get(discovery_document))
        .route(paths::JWKS, get(jwks))
        .route("/health", get(health))
}

fn json_bytes(body: Bytes, max_age: i64) -> Response {
    let cache =
        HeaderValue::from_str(&format!("public, max-age={max_age}")).unwrap_or(HeaderValue::from_static("no-cache"));
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json")), (header::CACHE_CONTROL, cache)], body)
        .into_response()
}

async fn discovery_document(State(state): State<AppState>) -> Response {
    json_bytes(state.discovery(), 3600)
}

async fn jwks(State(state): State<AppState>) -> Response {
    json_bytes(state.jwks().body.clone(), state.config.keys.jwks_max_age_secs)
}

async fn health() -> &'static str {
    "ok"
}
