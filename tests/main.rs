//! All integration tests, in one binary: each starts the real server on port 0 with its own
//! database, and acts as a browser (reqwest with a cookie jar) and as a relying party (the
//! `openidconnect` crate).

mod helpers;

mod activation;
mod audit_chain;
mod audit_events;
mod authorize_errors;
mod backchannel;
mod browser;
mod code_flow;
mod factors;
mod journey_b;
mod keys;
mod kv_contract;
mod logout;
mod mail;
mod migrations;
mod password_change;
mod principal;
mod recovery;
mod representation;
mod representation_age;
mod representation_own;
mod signin;
mod store_contract;
mod token_errors;
