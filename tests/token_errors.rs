//! Bad requests at the token, userinfo and introspection endpoints: RFC 6749 §5.2 JSON errors,
//! and every single-use thing single use.

use openidconnect::TokenIntrospectionResponse;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::browser::query_param;
use crate::helpers::rp::AuthStart;
use crate::helpers::{Portal, Rp, TestApp, PASSWORD};
use idp::store::ClientKind;

/// Signs in and returns the callback's code, with what the RP kept.
async fn code_for(app: &TestApp, rp: &Rp, username: &str) -> (String, AuthStart) {
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, username, PASSWORD).await;
    (query_param(&callback, "code").unwrap(), start)
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_string())
}

async fn setup() -> (TestApp, Portal, Rp) {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    (app, portal, rp)
}

#[tokio::test]
async fn wrong_or_missing_pkce_verifier_is_invalid_grant() {
    let (app, portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let wrong = "x".repeat(43);
    for form in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", portal.redirect_uri.as_str()),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", portal.redirect_uri.as_str()),
            ("code_verifier", wrong.as_str()),
        ],
    ] {
        let (status, error) = error_of(rp.token_request(&form).await).await;
        assert_eq!((status, error.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    }
    // A failed verifier does not burn the code for its rightful holder.
    rp.exchange(&code, &start).await.expect("the right verifier still works");
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_first_tokens() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let first = rp.exchange(&code, &start).await.expect("first redemption");
    assert!(rp.userinfo(first.access_token()).await.is_ok());
    let second = rp.exchange(&code, &start).await;
    assert!(second.unwrap_err().contains("invalid_grant"));
    assert!(rp.userinfo(first.access_token()).await.is_err(), "access token revoked");
    assert!(!rp.introspect(first.access_token().secret()).await.active());
    assert!(rp.refresh(&first.refresh_token()).await.is_err(), "refresh token revoked");
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_refused() {
    let (app, portal, rp) = setup().await;
    let other = app.portal("beta", ClientKind::Confidential).await;
    let other_rp = app.rp(&other).await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let presented_by_other = async || {
        let response = other_rp
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", portal.redirect_uri.as_str()),
                ("code_verifier", start.verifier.as_str()),
            ])
            .await;
        error_of(response).await
    };
    assert_eq!(presented_by_other().await, (StatusCode::BAD_REQUEST, "invalid_grant".into()));
    let first = rp.exchange(&code, &start).await.expect("the rightful client can still redeem it");

    // Once redeemed, another client that presents the code cannot revoke what it was redeemed for.
    assert_eq!(presented_by_other().await, (StatusCode::BAD_REQUEST, "invalid_grant".into()));
    assert!(rp.introspect(first.access_token().secret()).await.active(), "the rightful tokens stay");
    assert!(rp.refresh(&first.refresh_token()).await.is_ok());
}

/// After a redemption the code is kept as a marker naming its grant, so a code that comes back
/// is known as reused, not merely unknown (and the grant's id would refuse it regardless).
#[tokio::test]
async fn a_redeemed_code_is_remembered_as_redeemed() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    rp.exchange(&code, &start).await.expect("first redemption");
    let found = idp::oidc::codes::find(app.state.kv.as_ref(), &idp::crypto::token_digest(&code)).await.unwrap();
    assert!(matches!(found, Some(idp::oidc::codes::Found::Redeemed { .. })), "{found:?}");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    app.clock.advance(60);
    let result = rp.exchange(&code, &start).await;
    assert!(result.unwrap_err().contains("invalid_grant"));
}

#[tokio::test]
async fn a_code_with_another_redirect_uri_is_refused() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let response = rp
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://alpha.portal.example/other"),
            ("code_verifier", start.verifier.as_str()),
        ])
        .await;
    assert_eq!(error_of(response).await, (StatusCode::BAD_REQUEST, "invalid_grant".into()));
}

#[tokio::test]
async fn wrong_client_credentials_are_invalid_client() {
    let (app, portal, _rp) = setup().await;
    let http = reqwest::Client::new();
    let form = [("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", portal.redirect_uri.as_str())];
    let wrong_secret =
        http.post(app.url("/token")).basic_auth(&portal.client_id, Some("wrong")).form(&form).send().await.unwrap();
    assert!(wrong_secret.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(wrong_secret).await, (StatusCode::UNAUTHORIZED, "invalid_client".into()));
    let no_secret = http
        .post(app.url("/token"))
        .form(&[("client_id", portal.client_id.as_str()), ("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(no_secret).await, (StatusCode::UNAUTHORIZED, "invalid_client".into()));
    let unknown = http.post(app.url("/token")).basic_auth("nobody", Some("x")).form(&form).send().await.unwrap();
    assert_eq!(error_of(unknown).await, (StatusCode::UNAUTHORIZED, "invalid_client".into()));
    // client_secret_post works like basic, but not both at once.
    let secret = portal.secret.clone().unwrap();
    let both = http
        .post(app.url("/token"))
        .basic_auth(&portal.client_id, Some(&secret))
        .form(&[("client_secret", secret.as_str()), ("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(both).await, (StatusCode::BAD_REQUEST, "invalid_request".into()));
    let post = http
        .post(app.url("/token"))
        .form(&[
            ("client_id", portal.client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(post).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into()),
        "authenticated, then the grant is judged"
    );
}

#[tokio::test]
async fn malformed_token_requests_get_the_rfc_error_shape() {
    let (app, portal, rp) = setup().await;
    let (status, error) = error_of(rp.token_request(&[("grant_type", "password")]).await).await;
    assert_eq!((status, error.as_str()), (StatusCode::BAD_REQUEST, "unsupported_grant_type"));
    let (_, error) = error_of(rp.token_request(&[]).await).await;
    assert_eq!(error, "invalid_request");
    let (_, error) = error_of(rp.token_request(&[("grant_type", "client_credentials")]).await).await;
    assert_eq!(error, "unauthorized_client", "a portal may not use client credentials");
    let (_, error) = error_of(
        rp.token_request(&[("grant_type", "refresh_token"), ("grant_type", "refresh_token"), ("refresh_token", "x")])
            .await,
    )
    .await;
    assert_eq!(error, "invalid_request", "duplicated parameter");
    let json_body = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(&portal.client_id, portal.secret.as_ref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(json_body).await.1, "invalid_request");
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_the_whole_family() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let tokens = rp.exchange(&code, &start).await.unwrap();
    let first = tokens.refresh_token();
    let rotated = rp.refresh(&first).await.expect("first use");
    use openidconnect::OAuth2TokenResponse;
    let second = rotated.refresh_token().unwrap().secret().clone();
    // The old one comes back: someone copied it.
    let replay = rp.refresh(&first).await;
    assert!(replay.unwrap_err().contains("invalid_grant"));
    // Now even the legitimate newest token is dead, and so are the access tokens.
    assert!(rp.refresh(&second).await.is_err(), "family revoked");
    assert!(rp.userinfo(rotated.access_token()).await.is_err());
    assert!(!rp.introspect(tokens.access_token().secret()).await.active());
}

#[tokio::test]
async fn tampered_and_expired_access_tokens_are_refused() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let tokens = rp.exchange(&code, &start).await.unwrap();
    let token = tokens.access_token().secret().clone();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    // Change the subject in the payload, keep the signature.
    let payload = crate::code_flow::idp_b64(&parts[1]);
    let mut claims: Value = serde_json::from_slice(&payload).unwrap();
    claims["sub"] = Value::String("someone-else".into());
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = parts.join(".");
    let http = reqwest::Client::new();
    for bad in [tampered.as_str(), "not-a-jwt", "a.b.c", tokens.id_token.as_str()] {
        let response = http.get(app.url("/userinfo")).bearer_auth(bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
        assert!(!rp.introspect(bad).await.active(), "introspection: {bad}");
    }
    let none = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);

    assert!(rp.userinfo(tokens.access_token()).await.is_ok());
    app.clock.advance(app.state.config.tokens.access_token_ttl_secs);
    assert!(rp.userinfo(tokens.access_token()).await.is_err(), "expired");
    assert!(!rp.introspect(&token).await.active(), "expired at introspection");
}

#[tokio::test]
async fn public_clients_cannot_introspect() {
    let app = TestApp::spawn().await;
    let public = app.portal("spa", ClientKind::Public).await;
    let response = reqwest::Client::new()
        .post(app.url("/introspect"))
        .form(&[("client_id", public.client_id.as_str()), ("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (StatusCode::UNAUTHORIZED, "invalid_client".into()));
}

#[tokio::test]
async fn a_revocation_on_another_node_is_seen_within_the_poll_interval() {
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let tokens = rp.exchange(&code, &start).await.unwrap();
    let token = tokens.access_token().secret().clone();
    assert!(rp.introspect(&token).await.active(), "checked once, then remembered");
    // Another node revokes the grant: straight in the shared database.
    let claims: Value = serde_json::from_slice(&crate::code_flow::idp_b64(token.split('.').nth(1).unwrap())).unwrap();
    let grant = idp::domain::GrantId(claims["jti"].as_str().unwrap().split('.').next().unwrap().to_string());
    app.state.store.revoke_grant(&grant, app.now()).await.unwrap();
    // This node's next poll (every cache.poll_interval_ms) sees the revocation generation move.
    app.state.refresh_caches().await.unwrap();
    assert!(!rp.introspect(&token).await.active());
    assert!(rp.userinfo(tokens.access_token()).await.is_err());
}

#[tokio::test]
async fn a_narrowed_refresh_keeps_the_grant_scope_for_later() {
    use openidconnect::OAuth2TokenResponse;
    let (app, _portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let tokens = rp.exchange(&code, &start).await.unwrap();
    let narrow = rp
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token()),
            ("scope", "email"),
        ])
        .await;
    let body: Value = narrow.json().await.unwrap();
    assert_eq!(body["scope"], "email");
    assert!(body.get("id_token").is_none(), "no ID token without openid");
    let next = body["refresh_token"].as_str().unwrap();
    let wide = rp.refresh(next).await.expect("the original scope is still available (RFC 6749 §6)");
    assert_eq!(wide.scopes().unwrap().len(), 3);
}

#[tokio::test]
async fn introspection_looks_beyond_a_wrong_hint() {
    let (app, portal, rp) = setup().await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let tokens = rp.exchange(&code, &start).await.unwrap();
    for (token, hint) in
        [(tokens.access_token().secret().clone(), "refresh_token"), (tokens.refresh_token(), "access_token")]
    {
        let response = reqwest::Client::new()
            .post(app.url("/introspect"))
            .basic_auth(&portal.client_id, portal.secret.as_ref())
            .form(&[("token", token.as_str()), ("token_type_hint", hint)])
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true, "hint {hint}");
    }
}

/// Posts `token` to the introspection endpoint as the confidential client `id`.
async fn introspect_as(app: &TestApp, id: &str, secret: &str, token: &str, hint: Option<&str>) -> String {
    let mut form = vec![("token", token)];
    form.extend(hint.map(|h| ("token_type_hint", h)));
    let response = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn introspection_describes_a_token_only_to_the_portal_it_was_issued_to() {
    let (app, portal, rp) = setup().await;
    let other = app.portal("beta", ClientKind::Confidential).await;
    let (machine, machine_secret) = app.machine("koppeling").await;
    let (code, start) = code_for(&app, &rp, "kees").await;
    let tokens = rp.exchange(&code, &start).await.unwrap();
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token();
    let sub = tokens.claims.subject().as_str().to_string();

    // The portal itself sees both tokens with their claims (and its answer is remembered).
    for (token, kind) in [(&access, "Bearer"), (&refresh, "refresh_token")] {
        let body = introspect_as(&app, &portal.client_id, portal.secret.as_deref().unwrap(), token, None).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["active"], true, "{kind}");
        assert_eq!(body["token_type"], kind);
        assert_eq!(body["sub"], sub.as_str());
        assert_eq!(body["client_id"], portal.client_id.as_str());
        assert_eq!(body["scope"], "openid profile email");
        assert_eq!(body["acr"], "urn:poortwachter:acr:password");
    }

    // Another portal and a machine client learn nothing at all, with or without a hint: the
    // same answer as for a token that does not exist.
    let others = [(other.client_id.as_str(), other.secret.as_deref().unwrap()), (&machine, &machine_secret)];
    for (id, secret) in others {
        for token in [&access, &refresh] {
            for hint in [None, Some("access_token"), Some("refresh_token")] {
                let body = introspect_as(&app, id, secret, token, hint).await;
                assert_eq!(body, r#"{"active":false}"#, "client {id}, hint {hint:?}");
            }
        }
    }
    // Asking did not spend or revoke anything for the portal.
    assert!(rp.introspect(&access).await.active());
    assert!(rp.introspect(&refresh).await.active());
}
