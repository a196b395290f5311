//! What every sign-in page shares: finding the interaction its link or form names (and checking
//! it belongs to this browser), the browser as `signin` sees it, and turning what `signin`
//! answered into a response (cookies, the next page, the portal, or "start again").

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};

use super::error::{internal_page, page};
use super::{extract, redirect};
use crate::app::AppState;
use crate::auth::{factors, session};
use crate::crypto;
use crate::oidc::params::Params;
use crate::signin::{self, Advanced, Browser, Cookies, Interaction, Outcome, Stay};
use crate::ui::Locale;

/// The interaction named by `id`, if it exists and belongs to this browser.
async fn load(state: &AppState, jar: &CookieJar, id: &str) -> Result<Option<Interaction>, crate::kv::KvError> {
    let interaction = signin::interaction::load(state, id).await?;
    Ok(interaction.filter(|i| extract::binding_matches(state, jar, &i.binding)))
}

/// A submitted interaction form, checked: the interaction exists, belongs to this browser and
/// the form carries its CSRF token; with what the response needs of the request. As an extractor,
/// any failure is already the page to show.
pub(super) struct Submitted {
    pub form: Params,
    pub id: String,
    pub interaction: Interaction,
    pub locale: Locale,
    peer: SocketAddr,
    headers: HeaderMap,
    jar: CookieJar,
}

impl FromRequest<AppState> for Submitted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let jar = CookieJar::from_headers(&parts.headers);
        let headers = parts.headers.clone();
        let fallback = extract::locale(&headers, None);
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| page(state, fallback, StatusCode::BAD_REQUEST, "error_bad_request"))?;
        let form = extract::form(&headers, &body)
            .map_err(|_| page(state, fallback, StatusCode::BAD_REQUEST, "error_bad_request"))?;
        let id = form.get("interaction").unwrap_or_default().to_string();
        let interaction = match load(state, &jar, &id).await {
            Ok(Some(i)) => i,
            Ok(None) => return Err(page(state, fallback, StatusCode::BAD_REQUEST, "login_expired")),
            Err(e) => return Err(internal_page(state, fallback, e)),
        };
        let locale = extract::locale(&headers, interaction.ui_locales());
        if !crypto::constant_time_eq(form.get("csrf").unwrap_or_default().as_bytes(), interaction.csrf.as_bytes()) {
            return Err(page(state, locale, StatusCode::BAD_REQUEST, "login_expired"));
        }
        Ok(Submitted { form, id, interaction, locale, peer, headers, jar })
    }
}

/// The interaction a page's link names (`?interaction=…`), checked against this browser, with
/// the page's language. Any failure is already the page to show.
pub(super) struct Opened {
    pub params: Params,
    pub id: String,
    pub interaction: Interaction,
    pub locale: Locale,
}

pub(super) async fn opened(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    jar: &CookieJar,
) -> Result<Opened, Response> {
    let fallback = extract::locale(headers, None);
    let params = Params::parse(query.unwrap_or("").as_bytes()).unwrap_or_default();
    let id = params.get("interaction").unwrap_or_default().to_string();
    let interaction = match load(state, jar, &id).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(page(state, fallback, StatusCode::BAD_REQUEST, "login_expired")),
        Err(e) => return Err(internal_page(state, fallback, e)),
    };
    let locale = extract::locale(headers, interaction.ui_locales());
    Ok(Opened { params, id, interaction, locale })
}

/// The cookies and headers `signin` reads, taken from the request.
struct Seen {
    peer: SocketAddr,
    session: Option<String>,
    known_device: Option<String>,
    trusted_device: Option<String>,
    user_agent: String,
}

impl Seen {
    pub fn new(state: &AppState, peer: SocketAddr, headers: &HeaderMap, jar: &CookieJar) -> Self {
        let value = |name: &str| jar.get(name).map(|c| c.value().to_string());
        Seen {
            peer,
            session: value(session::cookie_name(state)),
            known_device: extract::known_device(state, jar),
            trusted_device: value(factors::device_cookie_name(state)),
            user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
        }
    }

    pub fn browser<'a>(&'a self, state: &AppState, headers: &HeaderMap, locale: Locale) -> Browser<'a> {
        Browser {
            ip: extract::client_ip(state, self.peer, headers),
            session: self.session.as_deref(),
            known_device: self.known_device.as_deref(),
            trusted_device: self.trusted_device.as_deref(),
            user_agent: &self.user_agent,
            locale,
        }
    }
}

/// Runs one step's `input` for this browser (`signin::advance`) and answers with [`respond`].
pub(super) async fn step(
    state: &AppState,
    submitted: &Submitted,
    input: signin::Input<'_>,
    stay: impl AsyncFnOnce(Stay) -> Response,
) -> Response {
    let Submitted { peer, headers, jar, .. } = submitted;
    let seen = Seen::new(state, *peer, headers, jar);
    let browser = seen.browser(state, headers, submitted.locale);
    let answer = signin::advance(state, &submitted.id, submitted.interaction.clone(), input, browser).await;
    respond(state, jar.clone(), submitted.locale, answer, stay).await
}

/// The response to what `signin` answered: its cookies, then the next page, the portal (or own
/// page), "start again", or — for [`Outcome::Stay`] — the page `stay` renders.
pub(super) async fn respond(
    state: &AppState,
    jar: CookieJar,
    locale: Locale,
    answer: Result<Advanced, signin::Error>,
    stay: impl AsyncFnOnce(Stay) -> Response,
) -> Response {
    let Advanced { outcome, cookies } = match answer {
        Ok(a) => a,
        Err(e) => return internal_page(state, locale, e),
    };
    let response = match outcome {
        Outcome::Stay(s) if s.why == signin::Why::Busy => {
            let mut response = stay(s).await;
            // RFC 9110 §10.2.3: a hash takes milliseconds, so the queue has room again within a second.
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
        Outcome::Stay(s) => stay(s).await,
        other => moved(state, locale, other),
    };
    (with_cookies(state, jar, cookies), response).into_response()
}

/// The browser's cookies after a sign-in call.
fn with_cookies(state: &AppState, jar: CookieJar, cookies: Cookies) -> CookieJar {
    let mut jar = jar;
    if let Some(token) = cookies.known_device {
        jar = jar.add(extract::known_device_cookie(state, token));
    }
    if let Some((token, days)) = cookies.trusted_device {
        let mut cookie: Cookie<'static> = extract::cookie(state, factors::device_cookie_name(state), token);
        cookie.set_max_age(time::Duration::days(days));
        jar = jar.add(cookie);
    }
    if let Some(token) = cookies.session {
        jar = jar.add(extract::cookie(state, session::cookie_name(state), token));
    }
    jar
}

/// Where an outcome other than [`Outcome::Stay`] sends the browser.
fn moved(state: &AppState, locale: Locale, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Next(location) | Outcome::Done(location) => redirect::see_other(&location),
        Outcome::Stay(_) | Outcome::Expired => page(state, locale, StatusCode::BAD_REQUEST, "login_expired"),
    }
}

/// The status of a page shown again.
pub(super) fn status(why: signin::Why) -> StatusCode {
    match why {
        signin::Why::Shown => StatusCode::OK,
        signin::Why::Invalid => StatusCode::BAD_REQUEST,
        signin::Why::Wrong => StatusCode::UNAUTHORIZED,
        signin::Why::TooMany => StatusCode::TOO_MANY_REQUESTS,
        signin::Why::Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}
