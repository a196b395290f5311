//! Poortwachter: an OpenID Connect identity provider for Dutch care organisations.
//! `docs/architecture.md` explains how a request flows through these modules.

pub mod account;
pub mod activation;
pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod kv;
pub mod mail;
pub mod oidc;
pub mod representation;
pub mod signin;
pub mod sms;
pub mod startup;
pub mod store;
pub mod ui;

/// An error and its sources, outermost first, joined with ": " — the one log line of a failure.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // `#[error(transparent)]` wrappers repeat their source's text: say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
