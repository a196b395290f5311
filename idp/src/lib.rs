//! Poortwachter: an OpenID Connect identity provider for Dutch care organisations.
//! `docs/architecture.md` explains how a request flows through these modules.

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
pub mod sms;
pub mod startup;
pub mod store;
pub mod ui;
