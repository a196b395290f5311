//! OpenID Connect Back-Channel Logout 1.0: a portal that registered a logout URI hears, server to
//! server, that a session it had tokens from ended (sign-out, a representation revoked); the
//! notice waits in an outbox and is retried until the portal takes it, once.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Form, Router};

use crate::helpers::{Portal, TestApp};
use idp::oidc::backchannel::{read_logout_token, EVENT, LOGOUT_TOKEN_TYP};

/// A portal's logout endpoint: answers with the statuses it is given, in turn (then 200), and
/// keeps every `logout_token` posted to it.
#[derive(Clone, Default)]
struct Receiver {
    answers: Arc<Mutex<Vec<StatusCode>>>,
    received: Arc<Mutex<Vec<String>>>,
}

async fn receive(State(r): State<Receiver>, Form(form): Form<std::collections::HashMap<String, String>>) -> StatusCode {
    r.received.lock().unwrap().push(form.get("logout_token").cloned().unwrap_or_default());
    let mut answers = r.answers.lock().unwrap();
    if answers.is_empty() {
        StatusCode::OK
    } else {
        answers.remove(0)
    }
}

async fn receiver(answers: &[StatusCode]) -> (Receiver, String) {
    let r = Receiver { answers: Arc::new(Mutex::new(answers.to_vec())), ..Receiver::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://127.0.0.1:{}/backchannel-logout", listener.local_addr().unwrap().port());
    let app = Router::new().route("/backchannel-logout", post(receive)).with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, uri)
}

async fn listening_portal(app: &TestApp, name: &str, uri: &str) -> Portal {
    app.portal_tweaked(name, |c| c.backchannel_logout_uri = Some(uri.to_string())).await
}

#[tokio::test]
async fn signing_out_tells_each_listening_portal_once_and_retries_until_it_answers() {
    let app = TestApp::spawn().await;
    let (heard, uri) = receiver(&[StatusCode::SERVICE_UNAVAILABLE]).await;
    let listening = listening_portal(&app, "luisterend", &uri).await;
    let deaf = app.portal("doof", idp::store::ClientKind::Confidential).await;
    app.user("kees").await;
    let browser = app.browser();
    let listening_rp = app.rp(&listening).await;
    let tokens = listening_rp.sign_in(&browser, "kees").await;
    let start = app.rp(&deaf).await.start(&[]);
    let callback = browser.follow(&start.url).await.expect("single sign-on at the second portal");
    app.rp(&deaf).await.finish(&callback, &start).await;
    let discovery: serde_json::Value =
        reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);

    // Sign out at the IdP (the confirmation page, as a person would).
    let confirm = crate::helpers::browser::to_page(browser.get("/logout").await).await;
    let form = [("logout", confirm.field("logout")), ("csrf", confirm.field("csrf"))];
    let done = browser.post_form("/logout/confirm", &form).await;
    assert_eq!(done.status(), reqwest::StatusCode::OK, "the signed-out page");

    // The portal is down at first: counted, retried after the backoff, not before.
    assert_eq!(app.state.deliver_logouts().await.unwrap().failed, 1);
    assert_eq!(app.state.deliver_logouts().await.unwrap(), Default::default(), "not due yet");
    app.clock.advance(31);
    assert_eq!(app.state.deliver_logouts().await.unwrap().sent, 1);
    assert_eq!(app.state.deliver_logouts().await.unwrap(), Default::default(), "sent once");
    let received = heard.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "one failed attempt, one delivery; nothing for the portal without a URI");

    // The token (§2.4): signed by us, typ logout+jwt, for this portal, this session, no nonce.
    let token = &received[1];
    let claims = read_logout_token(&app.state.keys(), token, app.now()).expect("a logout token we signed");
    assert_eq!(claims.aud, listening.client_id);
    assert_eq!(claims.sub, tokens.claims.subject().as_str());
    let payload = crate::representation::payload(token);
    assert_eq!(Some(claims.sid.as_str()), payload["sid"].as_str());
    let id_token = crate::representation::payload(&tokens.id_token);
    assert_eq!(payload["sid"], id_token["sid"], "the session the portal knows");
    assert!(payload["events"][EVENT].is_object(), "{payload}");
    assert!(payload.get("nonce").is_none());
    assert_eq!(claims.exp - claims.iat, 120);
    let header = crate::representation::payload_of(token, 0);
    assert_eq!(header["typ"], LOGOUT_TOKEN_TYP);
}

#[tokio::test]
async fn revoking_a_representation_tells_the_portal_of_that_session() {
    let app = TestApp::spawn().await;
    let (heard, uri) = receiver(&[]).await;
    let portal = listening_portal(&app, "familie", &uri).await;
    app.user("kees").await;
    let care = idp::representation::admin::NewCareClient {
        org: app.org.clone(),
        number: "C-200".into(),
        given_name: "Oma".into(),
        family_name: "Jansen".into(),
        birth_date: None,
        username: None,
    };
    idp::representation::admin::add_care_client(&app.admin(), care, app.now()).await.unwrap();
    let grant = crate::representation::grant_of(&app, "C-200", "kees", "messages");
    let granted = idp::representation::admin::grant(&app.admin(), grant, app.now()).await.unwrap();
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let start = rp.start(&[]);
    let callback = crate::representation::sign_in(&app, &browser, &start).await.expect("Oma is the only choice");
    let tokens = rp.finish(&callback, &start).await;

    idp::representation::admin::revoke(&app.admin(), granted.id.as_str(), app.now()).await.unwrap();
    assert_eq!(app.state.deliver_logouts().await.unwrap().sent, 1);
    let received = heard.received.lock().unwrap().clone();
    let claims = read_logout_token(&app.state.keys(), &received[0], app.now()).unwrap();
    assert_eq!(Some(claims.sid.as_str()), crate::representation::payload(&tokens.id_token)["sid"].as_str());
    // Kees's session itself lives on; when he signs out, the portal hears it again (it may have
    // signed him in anew in that session meanwhile): a notice sent does not stand for later ends.
    let confirm = crate::helpers::browser::to_page(browser.get("/logout").await).await;
    let form = [("logout", confirm.field("logout")), ("csrf", confirm.field("csrf"))];
    browser.post_form("/logout/confirm", &form).await;
    assert_eq!(app.state.deliver_logouts().await.unwrap().sent, 1);
}
