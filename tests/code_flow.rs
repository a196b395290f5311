//! The authorization code flow as a portal lives it, end to end.

use openidconnect::core::CoreTokenIntrospectionResponse;
use openidconnect::{OAuth2TokenResponse, TokenIntrospectionResponse};
use reqwest::StatusCode;

use crate::helpers::browser::{location, query_param};
use crate::helpers::{Backend, TestApp, PASSWORD};
use idp::store::{ClientKind, SigningAlg};

async fn active(rp: &crate::helpers::Rp, token: &str) -> bool {
    let response: CoreTokenIntrospectionResponse = rp.introspect(token).await;
    response.active()
}

async fn full_flow(app: TestApp) {
    let portal = app.alpha_portal().await;
    let sub = app.user("Jan.Jansen").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();

    let start = rp.start(&[]);
    // Username typed in another case still signs in: usernames are normalised.
    let callback = browser.sign_in(&start.url, "jan.jansen", PASSWORD).await;
    let tokens = rp.finish(&callback, &start).await;
    let claims = &tokens.claims;
    assert_eq!(claims.subject().as_str(), sub);
    assert_eq!(claims.issuer().as_str(), app.issuer);
    assert!(claims.auth_time().is_some(), "auth_time");
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:poortwachter:acr:password"));
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    assert_eq!(tokens.response.scopes().unwrap().len(), 3);

    let info = rp.userinfo(tokens.access_token()).await.expect("userinfo");
    assert_eq!(info.subject().as_str(), sub);
    assert_eq!(info.email().unwrap().as_str(), "jan.jansen@example.nl");
    assert_eq!(info.preferred_username().unwrap().as_str(), "Jan.Jansen");
    assert_eq!(info.birthdate().unwrap().as_str(), "1950-03-31");

    assert!(active(&rp, tokens.access_token().secret()).await, "fresh access token is active");
    let refresh = tokens.refresh_token();
    assert!(active(&rp, &refresh).await, "fresh refresh token is active");

    let refreshed = rp.refresh(&refresh).await.expect("refresh works");
    let rotated = refreshed.refresh_token().expect("rotated refresh token").secret().clone();
    assert_ne!(rotated, refresh, "refresh tokens rotate");
    assert!(!active(&rp, &refresh).await, "the used refresh token is spent");
    let info = rp.userinfo(refreshed.access_token()).await.expect("userinfo with refreshed token");
    assert_eq!(info.subject().as_str(), sub);

    // Revoking the refresh token revokes the grant: its access tokens stop working too.
    let revoke = rp
        .http
        .post(format!("{}/revoke", app.issuer))
        .basic_auth(&portal.client_id, portal.secret.as_ref())
        .form(&[("token", rotated.as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert!(!active(&rp, &rotated).await, "revoked refresh token is inactive");
    assert!(!active(&rp, refreshed.access_token().secret()).await, "access token of a revoked grant is inactive");
    assert!(rp.userinfo(refreshed.access_token()).await.is_err(), "userinfo refuses a revoked grant's token");
    assert!(rp.refresh(&rotated).await.is_err(), "revoked refresh token cannot refresh");
}

#[tokio::test]
async fn full_flow_on_sqlite() {
    full_flow(TestApp::spawn().await).await;
}

#[tokio::test]
async fn full_flow_on_postgres() {
    full_flow(TestApp::spawn_with(Backend::Postgres, |_| {}).await).await;
}

#[tokio::test]
async fn revoking_an_access_token_leaves_the_refresh_token() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("piet").await;
    let rp = app.rp(&portal).await;
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "piet", PASSWORD).await;
    let tokens = rp.finish(&callback, &start).await;
    let access = tokens.access_token().secret().clone();
    let response = rp
        .http
        .post(format!("{}/revoke", app.issuer))
        .basic_auth(&portal.client_id, portal.secret.as_ref())
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!active(&rp, &access).await);
    assert!(rp.userinfo(tokens.access_token()).await.is_err());
    assert!(active(&rp, &tokens.refresh_token()).await, "refresh token unaffected");
}

#[tokio::test]
async fn a_second_portal_signs_in_without_a_password() {
    let app = TestApp::spawn().await;
    let first = app.alpha_portal().await;
    let second = app.portal("beta", ClientKind::Confidential).await;
    let sub = app.user("marie").await;
    let browser = app.browser();

    let rp1 = app.rp(&first).await;
    let start = rp1.start(&[]);
    let tokens1 = rp1.finish(&browser.sign_in(&start.url, "marie", PASSWORD).await, &start).await;

    let rp2 = app.rp(&second).await;
    let start = rp2.start(&[]);
    let callback = browser.follow(&start.url).await.expect("straight back to the portal, no sign-in page");
    let tokens2 = rp2.finish(&callback, &start).await;
    assert_eq!(tokens2.claims.subject().as_str(), sub);
    assert_eq!(tokens1.claims.auth_time(), tokens2.claims.auth_time(), "same sign-in");
    let sid = |t: &crate::helpers::rp::Tokens| {
        let payload = t.id_token.split('.').nth(1).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&idp_b64(payload)).unwrap();
        json["sid"].as_str().unwrap().to_string()
    };
    assert_eq!(sid(&tokens1), sid(&tokens2), "one session, one sid");
}

pub fn idp_b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    let rp = app.rp(&portal).await;
    let start = rp.start(&[("prompt", "none")]);
    let response = app.browser().get(&start.url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response).unwrap();
    assert!(to.starts_with(&portal.redirect_uri));
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&to, "state").as_deref(), Some(start.state.as_str()));
    assert_eq!(query_param(&to, "iss").as_deref(), Some(app.issuer.as_str()));
}

#[tokio::test]
async fn prompt_none_with_a_session_returns_a_code() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    rp.sign_in(&browser, "kees").await;
    let start = rp.start(&[("prompt", "none")]);
    let response = browser.get(&start.url).await;
    let callback = location(&response).unwrap();
    rp.finish(&callback, &start).await;
}

#[tokio::test]
async fn prompt_login_asks_for_the_password_again() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    let first = rp.sign_in(&browser, "kees").await;
    app.clock.advance(30);
    let start = rp.start(&[("prompt", "login")]);
    let second = rp.finish(&browser.sign_in(&start.url, "kees", PASSWORD).await, &start).await;
    assert!(second.claims.auth_time().unwrap() > first.claims.auth_time().unwrap());
    // The same person re-authenticated: what the portal already had keeps working.
    let refreshed = rp.refresh(&first.refresh_token()).await.expect("earlier grant survives re-authentication");

    // Someone else signs in on this browser: the previous person's grants end with their session.
    app.user("anna").await;
    let start = rp.start(&[("prompt", "login")]);
    rp.finish(&browser.sign_in(&start.url, "anna", PASSWORD).await, &start).await;
    let latest = refreshed.refresh_token().unwrap().secret().clone();
    assert!(rp.refresh(&latest).await.is_err(), "kees's grant ended when anna signed in");
    assert!(rp.refresh(&second.refresh_token()).await.is_err());
}

#[tokio::test]
async fn max_age_forces_a_fresh_sign_in_only_when_exceeded() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let first = rp.sign_in(&browser, "kees").await;

    app.clock.advance(100);
    let start = rp.start(&[("max_age", "300")]);
    let within = rp.finish(&browser.follow(&start.url).await.expect("session young enough"), &start).await;
    assert_eq!(within.claims.auth_time(), first.claims.auth_time());

    app.clock.advance(250);
    let start = rp.start(&[("max_age", "300")]);
    assert!(browser.follow(&start.url).await.is_err(), "session too old: the sign-in page");
    let again = rp.finish(&browser.sign_in(&start.url, "kees", PASSWORD).await, &start).await;
    let age = again.claims.auth_time().unwrap() - first.claims.auth_time().unwrap();
    assert_eq!(age.num_seconds(), 350);

    app.clock.advance(400);
    let start = rp.start(&[("max_age", "300"), ("prompt", "none")]);
    let to = location(&browser.get(&start.url).await).unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn a_public_client_uses_pkce_without_a_secret() {
    let app = TestApp::spawn().await;
    let portal = app.portal("spa", ClientKind::Public).await;
    assert!(portal.secret.is_none());
    app.user("anna").await;
    let rp = app.rp(&portal).await;
    let tokens = rp.sign_in(&app.browser(), "anna").await;
    assert!(rp.refresh(&tokens.refresh_token()).await.is_ok());
}

#[tokio::test]
async fn rs256_id_tokens_when_the_portal_asks() {
    let app = TestApp::spawn().await;
    let portal = app.portal_with("legacy", ClientKind::Confidential, SigningAlg::RS256).await;
    app.user("anna").await;
    let rp = app.rp(&portal).await;
    let tokens = rp.sign_in(&app.browser(), "anna").await;
    let header: serde_json::Value =
        serde_json::from_slice(&idp_b64(tokens.id_token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
}

#[tokio::test]
async fn english_when_the_portal_or_browser_asks() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    let page = app.browser().follow(&rp.start(&[("ui_locales", "en")]).url).await.unwrap_err();
    assert!(page.body.contains("Sign in"), "{}", page.body);
    assert!(page.body.contains(r#"autocomplete="username""#));
    assert!(page.body.contains(r#"autocomplete="current-password""#));
    let page = app.browser().follow(&rp.start(&[]).url).await.unwrap_err();
    assert!(page.body.contains("Inloggen"), "Dutch by default");
    assert!(page.body.contains(r#"lang="nl""#));
}

#[tokio::test]
async fn client_credentials_for_machine_clients() {
    let app = TestApp::spawn().await;
    let (id, secret) = app.machine("ecd").await;
    let http = reqwest::Client::new();
    let response = http
        .post(app.url("/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&idp_b64(token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    let claims: serde_json::Value = serde_json::from_slice(&idp_b64(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["scope"], "profile");

    // A scope the machine client was not registered for.
    let response = http
        .post(app.url("/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "email")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    // Introspected by itself (a resource server), the token is active.
    let response = http
        .post(app.url("/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], id.as_str());
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_yield_exactly_one_success() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "kees", PASSWORD).await;
    let code = query_param(&callback, "code").unwrap();
    let attempts = (0..8).map(|_| rp.exchange(&code, &start));
    let results = futures::future::join_all(attempts).await;
    let successes: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(successes.len(), 1, "exactly one redemption succeeds");
    // The losers were reuse: the winner's tokens are revoked as well.
    let winner = successes[0];
    assert!(rp.userinfo(winner.access_token()).await.is_err());
    assert!(rp.refresh(&winner.refresh_token()).await.is_err());
    let _ = winner.response.access_token();
}

#[tokio::test]
async fn browser_apps_may_call_the_token_endpoint_from_their_own_origin_only() {
    let app = TestApp::spawn().await;
    app.portal("spa", ClientKind::Public).await; // https://spa.portal.example/callback
    app.portal("server", ClientKind::Confidential).await;
    // As after idp-admin: the server's next poll picks the new clients up.
    app.state.refresh_caches().await.unwrap();
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, app.url("/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://spa.portal.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://spa.portal.example");
    for origin in ["https://evil.example", "https://server.portal.example"] {
        let refused = preflight(origin).await.unwrap();
        assert!(refused.headers().get("access-control-allow-origin").is_none(), "{origin}");
    }
    let jwks = http.get(app.url("/jwks")).header("origin", "https://anyone.example").send().await.unwrap();
    assert_eq!(jwks.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn the_redirect_with_the_code_is_never_cached() {
    let app = TestApp::spawn().await;
    let portal = app.portal("alpha", ClientKind::Confidential).await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();
    // Straight after the sign-in form...
    let start = rp.start(&[]);
    let page = browser.follow(&start.url).await.unwrap_err();
    let response = browser.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(query_param(&location(&response).unwrap(), "code").is_some());
    // ...and from the single-sign-on session.
    let start = rp.start(&[]);
    let response = browser.get(&start.url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["cache-control"], "no-store");
    rp.finish(&location(&response).unwrap(), &start).await;
}

/// Where several nodes share PostgreSQL and Redis, codes live in Redis: one is redeemed once, a
/// second redemption revokes what the first issued, and Redis keeps only the code's marker.
#[tokio::test]
async fn on_postgres_and_redis_a_code_lives_in_redis_and_is_redeemed_once() {
    let prefix = format!("test-{}:", uuid::Uuid::new_v4());
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.kv.url = idp::domain::Secret::new("redis://127.0.0.1:6379".into());
        c.kv.prefix = prefix.clone();
    })
    .await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "kees", PASSWORD).await;
    let code = query_param(&callback, "code").unwrap();
    let digest = idp::crypto::token_digest(&code);
    let stored = idp::oidc::codes::find(app.state.kv.as_ref(), &digest).await.unwrap();
    assert!(matches!(stored, Some(idp::oidc::codes::Found::Issued(_))), "{stored:?}");
    let database_tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&sqlx::PgPool::connect(app.state.config.database.url.expose()).await.unwrap())
            .await
            .unwrap();
    assert!(!database_tables.iter().any(|t| t == "authorization_codes"), "{database_tables:?}");

    let tokens = rp.exchange(&code, &start).await.expect("first redemption");
    let stored = idp::oidc::codes::find(app.state.kv.as_ref(), &digest).await.unwrap();
    assert!(matches!(stored, Some(idp::oidc::codes::Found::Redeemed { .. })), "{stored:?}");
    assert!(rp.exchange(&code, &start).await.is_err(), "a second redemption is refused");
    assert!(!active(&rp, tokens.access_token().secret()).await, "and revokes what the first issued");
}
