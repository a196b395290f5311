//! Discovery, JWKS and key rotation: a new key is published before it signs, and the old one
//! verifies until every token it signed has expired.

use reqwest::StatusCode;
use serde_json::Value;

use crate::code_flow::idp_b64;
use crate::helpers::{Backend, TestApp};
use idp::store::ClientKind;

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let response = reqwest::get(app.url("/jwks")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("max-age="));
    let body: Value = response.json().await.unwrap();
    body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn kid_of(token: &str) -> String {
    let header: Value = serde_json::from_slice(&idp_b64(token.split('.').next().unwrap())).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn discovery_names_the_endpoints_the_router_serves() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], app.issuer.as_str());
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        let url = doc[key].as_str().unwrap();
        assert!(url.starts_with(&app.issuer), "{key}");
        let response = reqwest::get(url).await.unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{key} is served");
    }
}

#[tokio::test]
async fn a_first_start_makes_one_key_per_algorithm_that_signs_at_once() {
    let app = TestApp::spawn_making_keys().await;
    let stored = app.state.store.list_keys().await.unwrap();
    let mut algs: Vec<&str> = stored.iter().map(|k| k.alg.as_str()).collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "RS256"]);
    let shared: Vec<&str> = crate::helpers::signing_keys().iter().map(|k| k.kid.as_str()).collect();
    assert!(stored.iter().all(|k| !shared.contains(&k.kid.as_str())), "made here, not the tests' shared keys");
    assert!(stored.iter().all(|k| k.created_at == app.now() && k.signs_from == app.now()));
    let mut published = jwks_kids(&app).await;
    published.sort();
    let mut kids: Vec<String> = stored.iter().map(|k| k.kid.clone()).collect();
    kids.sort();
    assert_eq!(published, kids);
    // They sign: a whole sign-in with an ES256 ID token.
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let tokens = rp.sign_in(&app.browser(), "kees").await;
    assert!(kids.contains(&kid_of(&tokens.id_token)));
}

#[tokio::test]
async fn rotated_keys_are_published_before_they_sign_and_verify_after() {
    // Tokens that outlive the publication delay, so an old-key token is still valid after it.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.tokens.access_token_ttl_secs = 1800).await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let before = jwks_kids(&app).await;
    assert_eq!(before.len(), 2, "one ES256 and one RS256 key");

    let old = rp.sign_in(&browser, "kees").await;
    let old_kid = kid_of(&old.id_token);

    // As idp-admin would, in another process: write and bump; the server notices by polling.
    let created = idp::admin::rotate_keys(&app.admin(), &app.state.config, app.now()).await.unwrap();
    app.state.refresh_caches().await.unwrap();
    let new_kids: Vec<String> = created.iter().map(|k| k.kid.clone()).collect();
    let published = jwks_kids(&app).await;
    assert!(new_kids.iter().all(|k| published.contains(k)), "new keys published at once");
    assert!(published.contains(&old_kid));

    // Within the publication delay, the old key still signs.
    let start = rp.start(&[]);
    let during = rp.finish(&browser.follow(&start.url).await.unwrap(), &start).await;
    assert_eq!(kid_of(&during.id_token), old_kid);

    // After the delay, the new key signs; the old one still verifies.
    app.clock.advance(app.state.config.keys.publish_delay_secs);
    // By now the portal's JWKS cache (max-age < publish delay) has expired: it fetches again.
    let rp = app.rp(&portal).await;
    let start = rp.start(&[]);
    let after = rp.finish(&browser.follow(&start.url).await.unwrap(), &start).await;
    assert!(new_kids.contains(&kid_of(&after.id_token)));
    assert!(jwks_kids(&app).await.contains(&old_kid));
    assert!(rp.userinfo(during.access_token()).await.is_ok(), "old-key token verifies until it expires");

    // Once every old-key token has expired, the old key leaves JWKS.
    app.clock.advance(app.state.config.max_signed_token_ttl());
    let published = jwks_kids(&app).await;
    assert!(!published.contains(&old_kid));
    assert_eq!(published.len(), 2);
}

#[tokio::test]
async fn a_client_registered_elsewhere_is_noticed() {
    let app = TestApp::spawn().await;
    // Registered straight in the database, as idp-admin does from another process.
    let portal = app.portal("late", ClientKind::Confidential).await;
    let rp = app.rp(&portal).await;
    let page = app.browser().follow(&rp.start(&[]).url).await.unwrap_err();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}
