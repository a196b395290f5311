//! RP-Initiated Logout: the session ends, tokens of that session stop, and the browser only
//! returns to registered post-logout URIs.

use reqwest::StatusCode;

use crate::helpers::browser::{location, query_param, to_page};
use crate::helpers::{TestApp, PASSWORD};

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

#[tokio::test]
async fn logout_with_a_hint_ends_the_session_and_returns_to_the_portal() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let tokens = rp.sign_in(&browser, "kees").await;

    let url = logout_url(
        &app,
        &[("id_token_hint", &tokens.id_token), ("post_logout_redirect_uri", &portal.post_logout_uri), ("state", "bye")],
    );
    let response = browser.get(&url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let to = location(&response).unwrap();
    assert!(to.starts_with(&portal.post_logout_uri));
    assert_eq!(query_param(&to, "state").as_deref(), Some("bye"));

    // The session is gone: a silent sign-in fails, and the session's tokens are revoked.
    let start = rp.start(&[("prompt", "none")]);
    let to = location(&browser.get(&start.url).await).unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
    assert!(rp.refresh(&tokens.refresh_token()).await.is_err());
    assert!(rp.userinfo(tokens.access_token()).await.is_err());
}

#[tokio::test]
async fn an_unregistered_post_logout_uri_gets_no_redirect() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let tokens = rp.sign_in(&browser, "kees").await;
    for uri in ["https://evil.example/", &format!("{}/", portal.post_logout_uri), &portal.redirect_uri] {
        let response = browser
            .get(&logout_url(&app, &[("id_token_hint", &tokens.id_token), ("post_logout_redirect_uri", uri)]))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(location(&response).is_none());
    }
    // Without a hint or client_id there is no client to check the URI against.
    let response = browser.get(&logout_url(&app, &[("post_logout_redirect_uri", &portal.post_logout_uri)])).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A forged hint is refused.
    let response = browser.get(&logout_url(&app, &[("id_token_hint", "eyJhbGciOiJub25lIn0.e30.")])).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The session survived all of that.
    let start = rp.start(&[("prompt", "none")]);
    rp.finish(&location(&browser.get(&start.url).await).unwrap(), &start).await;
}

#[tokio::test]
async fn logout_without_a_hint_asks_the_user_first() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    rp.sign_in(&browser, "kees").await;

    let url =
        logout_url(&app, &[("client_id", &portal.client_id), ("post_logout_redirect_uri", &portal.post_logout_uri)]);
    let confirm = to_page(browser.get(&url).await).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Wilt u uitloggen?"));
    // Still signed in until the user confirms.
    let start = rp.start(&[("prompt", "none")]);
    rp.finish(&location(&browser.get(&start.url).await).unwrap(), &start).await;
    // A forged confirmation does nothing.
    let forged = browser.post_form("/logout/confirm", &[("logout", confirm.field("logout")), ("csrf", "x")]).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let done = browser
        .post_form("/logout/confirm", &[("logout", confirm.field("logout")), ("csrf", confirm.field("csrf"))])
        .await;
    assert!(location(&done).unwrap().starts_with(&portal.post_logout_uri));
    let start = rp.start(&[("prompt", "none")]);
    let to = location(&browser.get(&start.url).await).unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn a_cross_site_post_logout_still_ends_the_session() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let tokens = rp.sign_in(&browser, "kees").await;
    // The portal's auto-submitted form: a cross-site POST, on which the browser sends no Lax cookie.
    let no_cookies = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let posted = no_cookies
        .post(app.url("/logout"))
        .form(&[
            ("id_token_hint", tokens.id_token.as_str()),
            ("post_logout_redirect_uri", &portal.post_logout_uri),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    // The browser follows with a top-level GET, which carries the session cookie.
    let to = browser.follow(&location(&posted).unwrap()).await.expect("back to the portal");
    assert!(to.starts_with(&portal.post_logout_uri) && to.contains("state=s1"), "{to}");
    assert!(rp.refresh(&tokens.refresh_token()).await.is_err(), "the session and its grants ended");
}

#[tokio::test]
async fn a_code_issued_before_sign_out_cannot_be_redeemed_after_it() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let start = rp.start(&[]);
    let callback = browser.sign_in(&start.url, "kees", PASSWORD).await;
    let code = query_param(&callback, "code").unwrap();
    let confirm = to_page(browser.get(&logout_url(&app, &[])).await).await;
    browser.post_form("/logout/confirm", &[("logout", confirm.field("logout")), ("csrf", confirm.field("csrf"))]).await;
    let result = rp.exchange(&code, &start).await;
    assert!(result.unwrap_err().contains("invalid_grant"), "the code died with its session");
}

#[tokio::test]
async fn a_posted_logout_with_control_characters_is_passed_on_encoded() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let tokens = rp.sign_in(&browser, "kees").await;
    let no_cookies = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |body: Vec<u8>| {
        no_cookies
            .post(app.url("/logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let uri: String = url::form_urlencoded::byte_serialize(portal.post_logout_uri.as_bytes()).collect();
    for control in ["\n", "\r", "\0", "\x7f"] {
        let state = format!("s{control}1");
        let body = format!("id_token_hint={}&post_logout_redirect_uri={uri}&state={state}", tokens.id_token);
        let posted = post(body.into_bytes()).await.unwrap();
        assert_eq!(posted.status(), StatusCode::SEE_OTHER, "{control:?}");
        let to = browser.get(&location(&posted).unwrap()).await;
        assert_eq!(to.status(), StatusCode::SEE_OTHER);
        assert_eq!(to.headers()["cache-control"], "no-store");
        let to = location(&to).unwrap();
        assert!(to.starts_with(&portal.post_logout_uri), "{to}");
        assert_eq!(query_param(&to, "state").as_deref(), Some(state.as_str()));
    }
    // What cannot be a parameter: a page, not a server error.
    for body in [b"state=%FF".to_vec(), b"state=\xff".to_vec()] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains("Er ging iets mis"));
    }
}
