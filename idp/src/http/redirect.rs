//! The redirects that leave the IdP's own pages: back to a portal with a code, an error or after
//! logout, and a portal's POST passed on as a GET. They carry codes, `state` and hints, so no
//! cache (the browser's, a proxy's) may keep them (RFC 9700 §4.3: credentials leak through what
//! the browser keeps).

use axum::response::{IntoResponse, Redirect, Response};

use super::error::no_store;

/// A 303 See Other to `location` with `Cache-Control: no-store`. `location` must come from a
/// URL serialiser (as `RedirectUri::with_params` and [`super::extract::post_as_get`] do), which
/// percent-encodes what a header cannot hold.
pub fn see_other(location: &str) -> Response {
    (no_store(), Redirect::to(location)).into_response()
}
