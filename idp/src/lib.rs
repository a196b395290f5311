//! Poortwachter: an OpenID Connect identity provider for Dutch care organisations.
//! `docs/architecture.md` explains how a request flows through these modules.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod store;
pub mod admin;
pub mod app;
pub mod auth;
pub mod kv;
pub mod oidc;
pub mod ui;
pub mod http;
pub mod startup;
