//! Bad requests at the authorization endpoint: never a redirect to an unregistered URI, the
//! RFC 6749 error shape (with state and iss) when the redirect URI is trusted.

use reqwest::StatusCode;

use crate::helpers::browser::{location, query_param};
use crate::helpers::{Portal, TestApp};
use idp::store::{ClientKind, PkcePolicy};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_url(app: &TestApp, portal: &Portal, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &portal.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("state", "st-1")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Removes a parameter from a URL's query.
fn without(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> =
        parsed.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into(), v.into())).collect();
    parsed.query_pairs_mut().clear().extend_pairs(kept);
    parsed.to_string()
}

/// Asserts that the IdP answered with an error page and no redirect at all.
async fn assert_error_page(app: &TestApp, url: &str) {
    let response = app.browser().get(url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
    assert!(location(&response).is_none(), "must not redirect: {url}");
    let body = response.text().await.unwrap();
    assert!(body.contains("Er ging iets mis"), "an explanatory page: {body}");
}

/// Asserts a redirect to the portal with `error`, the original `state` and `iss`.
async fn assert_redirect_error(app: &TestApp, portal: &Portal, url: &str, error: &str) {
    let response = app.browser().get(url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{url}");
    let to = location(&response).unwrap();
    assert!(to.starts_with(&portal.redirect_uri), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some(error), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-1"));
    assert_eq!(query_param(&to, "iss").as_deref(), Some(app.issuer.as_str()));
    assert!(query_param(&to, "code").is_none());
    assert_eq!(response.headers()["cache-control"], "no-store", "{url}");
}

#[tokio::test]
async fn redirect_uri_variants_get_an_error_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    let registered = &portal.redirect_uri; // https://alpha.portal.example/callback
    let variants = [
        format!("{registered}/"),
        registered.replace("/callback", "/CALLBACK"),
        registered.replace("alpha", "ALPHA"),
        format!("{registered}?x=1"),
        format!("{registered}#frag"),
        "https://alpha.portal.example/callback@evil.example".to_string(),
        "https://alpha.portal.example@evil.example/callback".to_string(),
        "https://evil.example/callback".to_string(),
        registered.replace("https://", "http://"),
        registered.replace("alpha.portal.example", "alpha.portal.example:443"),
        "/callback".to_string(),
    ];
    for variant in &variants {
        assert_error_page(&app, &authorize_url(&app, &portal, variant, &[])).await;
    }
    // Missing redirect_uri, unknown client, missing client: also pages.
    assert_error_page(&app, &without(&authorize_url(&app, &portal, registered, &[]), "redirect_uri")).await;
    let unknown = authorize_url(&app, &portal, registered, &[]).replace(&portal.client_id, "no-such-client");
    assert_error_page(&app, &unknown).await;
    assert_error_page(&app, &without(&authorize_url(&app, &portal, registered, &[]), "client_id")).await;
    // Another portal's redirect URI is not this portal's.
    let other = app.portal("beta", ClientKind::Confidential).await;
    assert_error_page(&app, &authorize_url(&app, &portal, &other.redirect_uri, &[])).await;
}

#[tokio::test]
async fn duplicated_parameters_are_invalid_requests() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    let url = authorize_url(&app, &portal, &portal.redirect_uri, &[("scope", "openid profile")]);
    assert_redirect_error(&app, &portal, &url, "invalid_request").await;
    // Duplicated client_id or redirect_uri cannot be trusted at all.
    let url = authorize_url(&app, &portal, &portal.redirect_uri, &[("redirect_uri", &portal.redirect_uri)]);
    assert_error_page(&app, &url).await;
    let url = authorize_url(&app, &portal, &portal.redirect_uri, &[("client_id", &portal.client_id)]);
    assert_error_page(&app, &url).await;
}

#[tokio::test]
async fn pkce_is_required_for_every_new_client_and_plain_is_refused() {
    let app = TestApp::spawn().await;
    let public = app.portal("spa", ClientKind::Public).await;
    let confidential = app.alpha_portal().await;
    for portal in [&public, &confidential] {
        let url = authorize_url(&app, portal, &portal.redirect_uri, &[]);
        let missing = without(&without(&url, "code_challenge"), "code_challenge_method");
        assert_redirect_error(&app, portal, &missing, "invalid_request").await;
        let to = location(&app.browser().get(&missing).await).unwrap();
        let description = query_param(&to, "error_description").unwrap();
        assert!(description.contains("PKCE is required") && description.contains("S256"), "{description}");
        // Without PKCE and to an unregistered URI: still the error page, never a redirect.
        let elsewhere = authorize_url(&app, portal, "https://evil.example/callback", &[]);
        assert_error_page(&app, &without(&without(&elsewhere, "code_challenge"), "code_challenge_method")).await;

        let plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain");
        assert_redirect_error(&app, portal, &plain, "invalid_request").await;
        let no_method = without(&url, "code_challenge_method");
        assert_redirect_error(&app, portal, &no_method, "invalid_request").await;
        let short = url.replace(CHALLENGE, "abc");
        assert_redirect_error(&app, portal, &short, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_portal_registered_with_pkce_optional_may_leave_it_out_until_it_is_required() {
    let app = TestApp::spawn().await;
    app.user("kees").await;
    let portal = app.portal_without_pkce("oud").await;
    let url = authorize_url(&app, &portal, &portal.redirect_uri, &[]);
    let without_pkce = without(&without(&url, "code_challenge"), "code_challenge_method");
    // Optional is not "anything goes": plain is still refused.
    let plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain");
    assert_redirect_error(&app, &portal, &plain, "invalid_request").await;

    let rp = app.rp(&portal).await;
    let redeem = |code: String| {
        let rp = &rp;
        let redirect_uri = portal.redirect_uri.clone();
        async move {
            let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect_uri)];
            rp.token_request(&form).await
        }
    };
    let callback = app.browser().sign_in(&without_pkce, "kees", crate::helpers::PASSWORD).await;
    let response = redeem(query_param(&callback, "code").expect("a code without PKCE")).await;
    assert_eq!(response.status(), StatusCode::OK, "a code without PKCE is redeemed without a verifier");

    // A code asked for while PKCE was optional; then the operator requires it.
    let browser = app.browser();
    let pending = browser.sign_in(&without_pkce, "kees", crate::helpers::PASSWORD).await;
    let changed =
        idp::admin::set_client_pkce(&app.admin(), &portal.client_id, PkcePolicy::Required, app.now()).await.unwrap();
    assert_eq!(changed.pkce, PkcePolicy::Required);
    app.state.refresh_caches().await.unwrap();
    assert_redirect_error(&app, &portal, &without_pkce, "invalid_request").await;
    let response = redeem(query_param(&pending, "code").unwrap()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "the code no longer counts: {body}");
    // With PKCE the portal goes on as before.
    let start = rp.start(&[]);
    rp.finish(&app.browser().sign_in(&start.url, "kees", crate::helpers::PASSWORD).await, &start).await;

    // A public client cannot be made optional.
    let public = app.portal("spa", ClientKind::Public).await;
    let refused = idp::admin::set_client_pkce(&app.admin(), &public.client_id, PkcePolicy::Optional, app.now()).await;
    assert!(refused.unwrap_err().to_string().contains("--pkce"));
}

#[tokio::test]
async fn other_bad_requests_go_back_to_the_portal_with_the_right_error() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    let base = authorize_url(&app, &portal, &portal.redirect_uri, &[]);
    let cases: Vec<(String, &str)> = vec![
        (base.replace("response_type=code", "response_type=token"), "unsupported_response_type"),
        (without(&base, "response_type"), "invalid_request"),
        (base.replace("scope=openid", "scope=profile"), "invalid_scope"),
        (base.replace("scope=openid", "scope=openid+dossier"), "invalid_scope"),
        (without(&base, "scope"), "invalid_scope"),
        (format!("{base}&prompt=none+login"), "invalid_request"),
        (format!("{base}&prompt=sometimes"), "invalid_request"),
        (format!("{base}&max_age=-1"), "invalid_request"),
        (format!("{base}&max_age=soon"), "invalid_request"),
        (format!("{base}&request=eyJ"), "request_not_supported"),
        (format!("{base}&request_uri=https%3A%2F%2Fx"), "request_uri_not_supported"),
        (format!("{base}&response_mode=fragment"), "invalid_request"),
    ];
    for (url, error) in cases {
        assert_redirect_error(&app, &portal, &url, error).await;
    }
}

#[tokio::test]
async fn oversized_and_malformed_input_is_refused_quickly() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    let huge = format!("{}&nonce={}", authorize_url(&app, &portal, &portal.redirect_uri, &[]), "n".repeat(20_000));
    let response = app.browser().get(&huge).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert!(location(&response).is_none());
    // Invalid UTF-8 in the query.
    let response = app.browser().get(&format!("{}?client_id=%FF%FE", app.url("/authorize"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A token request body over the limit.
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200_000])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

/// A portal's auto-submitted form: a cross-site POST, so without the browser's cookies.
async fn post_body(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    http.post(app.url(path)).header("content-type", content_type).body(body).send().await.unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_posted_request_with_control_characters_is_passed_on_encoded() {
    let app = TestApp::spawn().await;
    let portal = app.portal("alpha", ClientKind::Confidential).await;
    let redirect_uri: String = url::form_urlencoded::byte_serialize(portal.redirect_uri.as_bytes()).collect();
    for control in ["\n", "\r", "\r\n", "\0", "\x7f", "\t"] {
        let state = format!("st{control}1");
        let body = format!(
            "client_id={}&redirect_uri={redirect_uri}&response_type=code&scope=openid&prompt=none&state={state}\
             &code_challenge={CHALLENGE}&code_challenge_method=S256",
            portal.client_id
        );
        let posted = post_body(&app, "/authorize", FORM, body.into_bytes()).await;
        assert_eq!(posted.status(), StatusCode::SEE_OTHER, "{control:?}");
        assert_eq!(posted.headers()["cache-control"], "no-store");
        let again = location(&posted).unwrap();
        assert!(again.starts_with("/authorize?"), "{again}");
        // The browser's GET carries exactly what was posted: the portal gets its state back.
        let answer = app.browser().get(&again).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{control:?}");
        let to = location(&answer).unwrap();
        assert!(to.starts_with(&portal.redirect_uri), "{to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
        assert_eq!(query_param(&to, "state").as_deref(), Some(state.as_str()), "{to}");
    }
    // The same, percent-encoded in a GET.
    let url = format!(
        "{}?client_id={}&redirect_uri={redirect_uri}&response_type=code&scope=openid&prompt=none&state=a%0D%0A%00%7Fb\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.url("/authorize"),
        portal.client_id
    );
    let to = location(&app.browser().get(&url).await).unwrap();
    assert_eq!(query_param(&to, "state").as_deref(), Some("a\r\n\0\x7fb"));
}

#[tokio::test]
async fn what_cannot_be_a_parameter_gets_a_page_not_a_server_error() {
    let app = TestApp::spawn().await;
    let portal = app.portal("alpha", ClientKind::Confidential).await;
    let valid = format!("client_id={}&response_type=code&scope=openid", portal.client_id);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (FORM, b"client_id=%FF%FE&scope=openid".to_vec()),
        (FORM, b"client_id=\xff\xfe&scope=openid".to_vec()),
        (FORM, b"state=%C3&scope=%A9".to_vec()),
        ("text/plain", valid.clone().into_bytes()),
        ("application/json", br#"{"client_id":"x"}"#.to_vec()),
        (FORM, format!("{valid}&nonce={}", "n".repeat(5000)).into_bytes()),
    ];
    for (content_type, body) in cases {
        let response = post_body(&app, "/authorize", content_type, body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type} {:?}", String::from_utf8_lossy(&body));
        assert!(location(&response).is_none());
        assert!(response.text().await.unwrap().contains("Er ging iets mis"));
    }
    // Raw control characters in a GET's request line never reach a handler; nor do they cause a 500.
    for byte in [0u8, 0x01, 0x7f, b'\r'] {
        let status = raw_get(&app, &[b"/authorize?client_id=x&state=a".as_slice(), &[byte], b"b"].concat()).await;
        assert!((400..500).contains(&status), "byte {byte:#04x}: {status}");
    }
}

/// Sends a GET with `target` exactly as given (no client library would send such bytes); returns
/// the status code of the answer.
async fn raw_get(app: &TestApp, target: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let request = [b"GET ".as_slice(), target, b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"].concat();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let line = String::from_utf8_lossy(&answer);
    line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("an HTTP answer: {line}"))
}
