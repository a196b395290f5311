//! Small request readers shared by the handlers.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::app::AppState;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::ui::Locale;

/// The longest query string we read.
const MAX_QUERY_LEN: usize = 16 * 1024;

/// Parameters from the query string.
pub fn query_params(query: Option<&str>) -> Result<Params, OAuthError> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return Err(OAuthError::invalid_request("the request is too large"));
    }
    Params::parse(query.as_bytes())
}

/// OIDC Core §3.1.2.1 and RP-Initiated Logout §2 allow POST. A portal's cross-site form POST
/// carries no `SameSite=Lax` cookie, so the session would look absent; the same parameters are
/// therefore sent on as a top-level GET (303), which does carry it. The query is built anew from
/// the parsed parameters (in their order, duplicates kept for the GET to refuse), never copied from
/// the body: a raw line break or NUL there would not fit in a `Location` header. `None` when the
/// body is not an acceptable form (see [`form`]) or too large to pass on.
pub fn post_as_get(path: &str, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    form(headers, body).ok()?;
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(form_urlencoded::parse(body)).finish();
    if query.len() > MAX_QUERY_LEN {
        return None;
    }
    Some(if query.is_empty() { path.to_string() } else { format!("{path}?{query}") })
}

/// A form body; RFC 6749 §3.2 requires `application/x-www-form-urlencoded`.
pub fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    Params::parse(body)
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The page language for this request.
pub fn locale(headers: &HeaderMap, ui_locales: Option<&str>) -> Locale {
    Locale::negotiate(ui_locales, header_str(headers, header::ACCEPT_LANGUAGE))
}

/// The client's address: the socket peer, or the proxy's `X-Forwarded-For` when configured.
pub fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if state.config.server.trust_forwarded_for {
        if let Some(ip) = header_str(headers, header::HeaderName::from_static("x-forwarded-for"))
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    peer.ip()
}

/// Name of the cookie that binds a pending sign-in to the browser that started it.
pub fn binding_cookie_name(state: &AppState) -> &'static str {
    if state.is_https() {
        "__Host-pw_bind"
    } else {
        "pw_bind"
    }
}

/// This browser's binding value (from the cookie), creating the cookie when it is missing.
/// Pending sign-ins and logouts store its digest, so only the browser that started one can finish it.
pub fn binding(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    match jar.get(binding_cookie_name(state)).map(|c| c.value().to_string()) {
        Some(value) if value.len() == 43 => (jar, value),
        _ => {
            let value = crate::crypto::random_token(32);
            (jar.add(cookie(state, binding_cookie_name(state), value.clone())), value)
        }
    }
}

/// The browser's binding cookie, as it sent it (see [`binding`]).
pub fn binding_value<'a>(state: &AppState, jar: &'a CookieJar) -> Option<&'a str> {
    jar.get(binding_cookie_name(state)).map(|c| c.value())
}

/// Does the browser's binding cookie match the digest a pending step stored?
pub fn binding_matches(state: &AppState, jar: &CookieJar, stored_digest: &str) -> bool {
    crate::crypto::digest_matches(binding_value(state, jar), stored_digest)
}

/// The browser's session cookie, as it sent it (see `auth::session`).
pub fn session_value<'a>(state: &AppState, jar: &'a CookieJar) -> Option<&'a str> {
    jar.get(crate::auth::session::cookie_name(state)).map(|c| c.value())
}

/// The CSRF token of a form that has no pending step of its own to keep one in
/// (`/wachtwoord-vergeten`, `/activeren`): a keyed digest of this browser's binding cookie and the
/// form's path, so only a page this browser fetched can post it. Creates the cookie when missing.
pub fn form_csrf(state: &AppState, jar: CookieJar, form: &str) -> (CookieJar, String) {
    let (jar, binding) = binding(state, jar);
    let token = state.factor_key.digest(&format!("form-csrf:{form}"), &binding);
    (jar, token)
}

/// Does the posted `csrf` field belong to this browser and this form (see [`form_csrf`])?
pub fn form_csrf_matches(state: &AppState, jar: &CookieJar, form: &str, presented: Option<&str>) -> bool {
    let Some(binding) = jar.get(binding_cookie_name(state)).map(|c| c.value()).filter(|v| v.len() == 43) else {
        return false;
    };
    let expected = state.factor_key.digest(&format!("form-csrf:{form}"), binding);
    crate::crypto::constant_time_eq(presented.unwrap_or_default().as_bytes(), expected.as_bytes())
}

/// A cookie with our standard attributes: HttpOnly, SameSite=Lax, Path=/, Secure over https.
pub fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value)).http_only(true).same_site(SameSite::Lax).path("/").secure(state.is_https()).build()
}

/// This browser's device cookie (see `auth::known_device`), if it sent one.
pub fn known_device(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(crate::auth::known_device::cookie_name(state)).map(|c| c.value().to_string())
}

/// The device cookie to set after the right password: [`cookie`]'s attributes, kept
/// `signin.device_cookie_days`.
pub fn known_device_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let mut cookie = cookie(state, crate::auth::known_device::cookie_name(state), token);
    cookie.set_max_age(time::Duration::days(state.config.signin.device_cookie_days));
    cookie
}
