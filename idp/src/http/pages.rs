//! The start page, the theme's static files and the not-found page.

use std::path::Path;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;

use super::error::{page, render};
use super::extract;
use crate::app::AppState;

pub fn routes(theme_dir: &Path) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .nest_service("/static", ServeDir::new(theme_dir.join("static")))
        .fallback(not_found)
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(&state, extract::locale(&headers, None), StatusCode::OK, "home", &serde_json::json!({}))
}

async fn not_found(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, extract::locale(&headers, None), StatusCode::NOT_FOUND, "error_not_found")
}
