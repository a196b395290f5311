//! The simulated browser: authorization requests, the sign-in form, the code and its redemption.

use std::time::{Duration, Instant};

use idp::crypto;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use url::Url;

use crate::Shared;

/// One pending authorization: the code and the PKCE verifier that redeems it.
pub struct Code {
    pub code: String,
    pub verifier: String,
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn location(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("expected a redirect, got {}", response.status()))
}

/// A `Location` (absolute or relative) resolved against the URL that answered with it.
fn resolve(from: &Url, location: &str) -> Result<Url, String> {
    from.join(location).map_err(|e| format!("bad location {location}: {e}"))
}

/// Starts an authorization request; returns the `Location` the IdP answers with (resolved),
/// the verifier and the state.
async fn authorize(shared: &Shared, browser: &reqwest::Client) -> Result<(String, String, String), String> {
    let a = &shared.args;
    let verifier = crypto::random_token(32);
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let state = crypto::random_token(12);
    let mut url = Url::parse(&shared.authorization_endpoint).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &a.client_id)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("scope", &a.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &crypto::random_token(12))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let response = browser.get(url.clone()).send().await.map_err(|e| format!("authorize: {e}"))?;
    if response.status() != StatusCode::SEE_OTHER && response.status() != StatusCode::FOUND {
        return Err(format!("authorize answered {}", response.status()));
    }
    let to = location(&response)?;
    // The code's redirect stays as sent (compared with the redirect URI); the sign-in page resolved.
    let to = if to.starts_with(&a.redirect_uri) { to } else { resolve(&url, &to)?.to_string() };
    Ok((to, verifier, state))
}

/// Reads the code from the redirect back to the portal, checking `state`.
fn code_from(shared: &Shared, location: &str, state: &str, verifier: String) -> Result<Code, String> {
    if !location.starts_with(&shared.args.redirect_uri) {
        return Err(format!("not redirected to the portal: {location}"));
    }
    let url = Url::parse(location).map_err(|e| e.to_string())?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if let Some(error) = param("error") {
        return Err(format!("authorization error: {error}"));
    }
    if param("state").as_deref() != Some(state) {
        return Err("state does not round-trip".into());
    }
    let code = param("code").ok_or("no code in the redirect")?;
    Ok(Code { code, verifier })
}

/// A browser with an SSO session asks for a code: authorize → 303 back to the portal → the code.
pub async fn sso_code(shared: &Shared, browser: &reqwest::Client) -> Result<Code, String> {
    let (location, verifier, state) = authorize(shared, browser).await?;
    code_from(shared, &location, &state, verifier)
}

/// The RP redeems a code (RFC 6749 §4.1.3, `client_secret_basic`, PKCE).
pub async fn redeem(shared: &Shared, code: &Code) -> Result<(), String> {
    let a = &shared.args;
    let response = shared
        .rp
        .post(&shared.token_endpoint)
        .basic_auth(&a.client_id, Some(&a.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code.code),
            ("redirect_uri", &a.redirect_uri),
            ("code_verifier", &code.verifier),
        ])
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("token body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("token answered {status}: {}", String::from_utf8_lossy(&body)));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("token json: {e}"))?;
    if json.get("access_token").is_none() || json.get("id_token").is_none() {
        return Err(format!("token response lacks tokens: {json}"));
    }
    Ok(())
}

/// The sign-in form of a page: the form with a `password` field, its action resolved against
/// the page, and its hidden fields (Poortwachter's `interaction` and `csrf`; none for node).
fn signin_form(page_url: &Url, page: &str) -> Result<(Url, Vec<(String, String)>), String> {
    let html = Html::parse_document(page);
    let forms = Selector::parse("form").expect("selector");
    let password = Selector::parse("input[name=\"password\"]").expect("selector");
    let hidden = Selector::parse("input[type=\"hidden\"][name]").expect("selector");
    let form = html
        .select(&forms)
        .find(|f| f.select(&password).next().is_some())
        .ok_or_else(|| format!("no sign-in form at {page_url}"))?;
    let action = match form.value().attr("action") {
        Some(a) if !a.is_empty() => resolve(page_url, a)?,
        _ => page_url.clone(),
    };
    let fields = form
        .select(&hidden)
        .filter_map(|i| Some((i.value().attr("name")?.to_string(), i.value().attr("value").unwrap_or("").to_string())))
        .collect();
    Ok((action, fields))
}

/// A sign-in form ready to post: where to, its hidden fields, and the authorization request's
/// state and PKCE verifier.
pub struct SigninForm {
    pub action: Url,
    pub fields: Vec<(String, String)>,
    pub state: String,
    pub verifier: String,
}

/// A browser without a session starts an authorization request and reads the sign-in form.
pub async fn open_signin_form(shared: &Shared, browser: &reqwest::Client) -> Result<SigninForm, String> {
    let a = &shared.args;
    let (to_signin, verifier, state) = authorize(shared, browser).await?;
    let page_url = Url::parse(&to_signin).map_err(|e| format!("sign-in page {to_signin}: {e}"))?;
    if !page_url.path().starts_with(a.target.signin_path()) {
        return Err(format!("expected the sign-in page ({}…), got {to_signin}", a.target.signin_path()));
    }
    let response = browser.get(page_url.clone()).send().await.map_err(|e| format!("sign-in page: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("sign-in page answered {}", response.status()));
    }
    let page = response.text().await.map_err(|e| format!("sign-in page: {e}"))?;
    let (action, fields) = signin_form(&page_url, &page)?;
    Ok(SigninForm { action, fields, state, verifier })
}

/// The server's answer to a posted sign-in form, read to the end, and how long it took.
pub struct Posted {
    pub status: StatusCode,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub took: Duration,
}

/// Posts `form` with `username` and `password`; `forwarded_for` is sent as `X-Forwarded-For`
/// (a client address, for a server configured to trust it).
pub async fn post_signin(
    browser: &reqwest::Client,
    form: &SigninForm,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> Result<Posted, String> {
    let mut fields = form.fields.clone();
    fields.push(("username".into(), username.to_string()));
    fields.push(("password".into(), password.to_string()));
    let mut request = browser.post(form.action.clone()).form(&fields);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    let t0 = Instant::now();
    let response = request.send().await.map_err(|e| format!("sign-in: {e}"))?;
    let status = response.status();
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    let location = header(LOCATION);
    // RFC 9110 §10.2.3: delay-seconds (an HTTP date is not what Poortwachter sends).
    let retry_after =
        header(reqwest::header::RETRY_AFTER).and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
    response.bytes().await.map_err(|e| format!("sign-in answer: {e}"))?;
    Ok(Posted { status, location, retry_after, took: t0.elapsed() })
}

/// After the sign-in POST redirected: follow the server's own redirects (node: back to
/// /auth/:uid) until it sends the browser back to the portal with the code.
pub async fn code_after_signin(
    shared: &Shared,
    browser: &reqwest::Client,
    form: SigninForm,
    posted: &Posted,
    username: &str,
) -> Result<Code, String> {
    let a = &shared.args;
    if !posted.status.is_redirection() {
        return Err(format!("sign-in of {username} answered {}", posted.status));
    }
    let mut from = form.action;
    let mut to = posted.location.clone().ok_or_else(|| format!("expected a redirect, got {}", posted.status))?;
    for _ in 0..5 {
        if to.starts_with(&a.redirect_uri) {
            break;
        }
        let next = resolve(&from, &to)?;
        let response = browser.get(next.clone()).send().await.map_err(|e| format!("after sign-in: {e}"))?;
        if !response.status().is_redirection() {
            return Err(format!("after the sign-in of {username}, {next} answered {}", response.status()));
        }
        to = location(&response)?;
        from = next;
    }
    code_from(shared, &to, &form.state, form.verifier)
}

/// A sign-in refused because every password check was taken (503): not an error but an answer,
/// to be tried again after `Retry-After`.
pub struct Busy {
    pub answered_in: Duration,
    pub retry_after: Option<Duration>,
}

pub enum SignInFailure {
    Busy(Busy),
    Failed(String),
}

impl From<String> for SignInFailure {
    fn from(error: String) -> Self {
        SignInFailure::Failed(error)
    }
}

/// A browser without a session signs in with the password: authorize → sign-in page → POST →
/// (node: resume at /auth/:uid) → the code.
pub async fn sign_in_for_code(
    shared: &Shared,
    browser: &reqwest::Client,
    username: &str,
) -> Result<Code, SignInFailure> {
    let form = open_signin_form(shared, browser).await?;
    let posted = post_signin(browser, &form, username, &shared.args.password, None).await?;
    if posted.status == StatusCode::SERVICE_UNAVAILABLE {
        return Err(SignInFailure::Busy(Busy { answered_in: posted.took, retry_after: posted.retry_after }));
    }
    Ok(code_after_signin(shared, browser, form, &posted, username).await?)
}

/// How long a refused sign-in waits before it tries again: the server's `Retry-After` (1 s when
/// it gave none), at most 10 s.
pub fn retry_delay(retry_after: Option<Duration>) -> Duration {
    retry_after.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(10))
}

/// Sleeps for `delay`, but not past `deadline` nor past a stop (SIGTERM).
pub async fn pause(shared: &Shared, delay: Duration, deadline: Instant) {
    let until = (Instant::now() + delay).min(deadline);
    tokio::select! {
        _ = tokio::time::sleep_until(until.into()) => {}
        _ = shared.stop.cancelled() => {}
    }
}

/// Phase 1 tries a refused sign-in again this many times (after `Retry-After` each time).
pub const MAX_BUSY_RETRIES: u32 = 120;
