//! The web layer: axum only here. One module per endpoint family, each exposing `routes()`;
//! handlers extract input, call one use case in `signin/`, `account/`, `oidc/`, `auth/` or
//! `activation/`, and render its result. No handler calls the store, `kv` or the clock directly.

mod account;
mod acting_for;
mod activation;
mod authorize;
mod error;
mod extract;
mod interaction;
mod logout;
mod meta;
mod pages;
mod password_change;
mod password_form;
mod recovery;
mod redirect;
mod second_factor;
mod token;
mod userinfo;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::Router;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

/// Names the request's client address as the origin of every audit record its handler appends
/// (NEN 7513 asks where an action came from); see `audit::with_origin`.
async fn audit_origin(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    match peer {
        Some(peer) => {
            let address = extract::client_ip(&state, peer, request.headers()).to_string();
            crate::audit::with_origin(address, next.run(request)).await
        }
        None => next.run(request).await,
    }
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    // Discovery and JWKS are public documents; the token, userinfo and revocation endpoints answer
    // browser apps (public clients) from the origins of their registered redirect URIs.
    let public_cors = CorsLayer::new().allow_origin(AllowOrigin::any()).allow_methods([Method::GET]);
    let apps = state.clone();
    let app_cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().map(|o| apps.is_browser_app_origin(o)).unwrap_or(false)
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600));
    Router::new()
        .merge(meta::routes().layer(public_cors))
        .merge(authorize::routes())
        .merge(acting_for::routes())
        .merge(second_factor::routes())
        .merge(account::routes())
        .merge(activation::routes())
        .merge(recovery::routes())
        .merge(password_change::routes())
        .merge(password_change::question_routes())
        .merge(token::routes().layer(app_cors.clone()))
        .merge(userinfo::routes().layer(app_cors))
        .merge(logout::routes())
        .merge(pages::routes(&state.config.theme.dir))
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit_origin))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    // The path only: query strings carry codes and tokens, which never go to the log.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_failure(|failure: ServerErrorsFailureClass, latency: std::time::Duration, _: &tracing::Span| {
                    // A 503 is an answer given on purpose (a full sign-in queue), said once by
                    // `auth::password::Admission` when it starts; every other 5xx is an error.
                    if !matches!(failure, ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE)) {
                        tracing::error!(classification = %failure, latency = ?latency, "response failed");
                    }
                }),
        )
        .with_state(state)
}
