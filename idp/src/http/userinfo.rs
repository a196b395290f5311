//! `/userinfo` (OIDC Core §5.3) with RFC 6750 bearer tokens: the `Authorization` header, or
//! `access_token` in a form body (§2.2). Never in the query string (§2.3 is not supported).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::error::{no_store, protocol_json};
use super::extract;
use crate::app::AppState;
use crate::oidc::error::{ErrorCode, ProtocolError};
use crate::oidc::{paths, resource};

pub fn routes() -> Router<AppState> {
    Router::new().route(paths::USERINFO, get(userinfo).post(userinfo))
}

async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let from_header = extract::header_str(&headers, header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    let from_body = if method == Method::POST && from_header.is_none() {
        extract::form(&headers, &body).ok().and_then(|p| p.get("access_token").map(str::to_string))
    } else {
        None
    };
    match resource::userinfo(&state, from_header.or(from_body).as_deref()).await {
        Ok(claims) => (no_store(), Json(claims)).into_response(),
        Err(ProtocolError::OAuth(e)) if e.code == ErrorCode::InvalidToken => {
            let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{}\"", e.description);
            let mut response = (StatusCode::UNAUTHORIZED, no_store()).into_response();
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
        Err(e) => protocol_json(e, false),
    }
}
