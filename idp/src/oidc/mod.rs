//! OpenID Connect and OAuth 2.0 protocol logic. Nothing here knows about axum: use cases take
//! parsed parameters, the [`AppState`](crate::app::AppState) and `now`, and return protocol
//! results that `http/` renders.

pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod codes;
pub mod discovery;
pub mod error;
pub mod keys;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod resource;
pub mod token;
pub mod tokens;

/// Endpoint paths: the router mounts these and discovery publishes them.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/jwks";
    pub const AUTHORIZE: &str = "/authorize";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const INTROSPECT: &str = "/introspect";
    pub const REVOKE: &str = "/revoke";
    pub const LOGOUT: &str = "/logout";
}
