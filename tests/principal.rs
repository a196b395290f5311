//! Who acts for whom in tokens (docs/tokens.md, "Acting for someone else"): someone acting for
//! themself gets exactly the tokens they always got; a grant whose principal names another person
//! gives an access token whose `sub` is that person and whose `act` is the account that signed
//! in, while the ID token keeps naming who signed in. Until the "on whose behalf?" step exists,
//! the test sets the code's principal where codes are kept, as that step will.

use openidconnect::OAuth2TokenResponse;

use crate::helpers::browser::query_param;
use crate::helpers::TestApp;
use idp::domain::{AccountId, Party};
use idp::oidc::codes;
use idp::oidc::tokens::{verify_access_token, AccessTokenClaims};

/// Makes the code stand for `acting_for`, as the "on whose behalf?" step will choose.
async fn set_acting_for(app: &TestApp, code: &str, acting_for: Option<&AccountId>) {
    let (kv, digest) = (app.state.kv.as_ref(), idp::crypto::token_digest(code));
    let Some(codes::Found::Issued(mut record)) = codes::find(kv, &digest).await.unwrap() else {
        panic!("the code is not waiting to be redeemed")
    };
    record.acting_for = acting_for.map(|a| Party::Account(a.clone()));
    codes::put(kv, &digest, &record, app.now()).await.unwrap();
}

/// What `/introspect` says of `token` to the portal it was issued to.
async fn introspect(app: &TestApp, rp: &crate::helpers::Rp, token: &str) -> serde_json::Value {
    let form = [("token", token)];
    let response =
        rp.http.post(format!("{}/introspect", app.issuer)).basic_auth(&rp.portal.client_id, rp.portal.secret.as_ref());
    response.form(&form).send().await.unwrap().json().await.unwrap()
}

fn claims(app: &TestApp, token: &str) -> AccessTokenClaims {
    verify_access_token(&app.state.keys(), &app.issuer, token, app.now()).expect("a valid access token")
}

#[tokio::test]
async fn acting_for_oneself_adds_nothing_to_the_tokens() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    let sub = app.user("kees").await;
    let tokens = rp.sign_in(&app.browser(), "kees").await;
    let access = tokens.access_token().secret();
    let c = claims(&app, access);
    assert_eq!(c.sub, sub);
    assert_eq!(c.act, None);
    let payload = access.split('.').nth(1).unwrap();
    use base64::Engine;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    assert!(!String::from_utf8(json).unwrap().contains("\"act\""), "no act claim at all");
    let introspected = introspect(&app, &rp, access.as_str()).await;
    assert_eq!(introspected["active"], true);
    assert!(introspected.get("act").is_none(), "{introspected}");
}

#[tokio::test]
async fn acting_for_another_names_them_in_sub_and_the_actor_in_act() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    let kees = app.user("kees").await;
    let oma = app.user("oma").await;
    let oma_id = app.state.store.account_by_username("oma").await.unwrap().unwrap().id;

    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "kees", crate::helpers::PASSWORD).await;
    set_acting_for(&app, &query_param(&callback, "code").unwrap(), Some(&oma_id)).await;

    let tokens = rp.finish(&callback, &start).await;
    assert_eq!(tokens.claims.subject().as_str(), kees, "the ID token names who signed in");
    let c = claims(&app, tokens.access_token().secret());
    assert_eq!(c.sub, oma, "the access token reaches the person acted for");
    assert_eq!(c.act.as_ref().map(|a| a.sub.as_str()), Some(kees.as_str()), "and names the actor");

    // Introspection says the same, for the access token and for the refresh token.
    for token in [tokens.access_token().secret().clone(), tokens.refresh_token()] {
        let body = introspect(&app, &rp, token.as_str()).await;
        assert_eq!(body["sub"], oma.as_str(), "{body}");
        assert_eq!(body["act"]["sub"], kees.as_str(), "{body}");
    }

    // Userinfo answers about the account that signed in only; what a representative may read
    // there is the representation issue's rule, so until then it refuses rather than guesses.
    assert!(rp.userinfo(tokens.access_token()).await.is_err());

    // The refresh token carries the grant's principal.
    let refreshed = rp.refresh(&tokens.refresh_token()).await.expect("refresh");
    let c = claims(&app, refreshed.access_token().secret());
    assert_eq!((c.sub.as_str(), c.act.map(|a| a.sub)), (oma.as_str(), Some(kees.clone())));

    // The audit log names both.
    let records = app.state.store.audit_records_after(0, 1000).await.unwrap();
    let issued = records.iter().find(|r| r.event_type == "token.issued").unwrap();
    let kees_id = app.state.store.account_by_username("kees").await.unwrap().unwrap().id;
    assert_eq!(issued.actor_id.as_deref(), Some(kees_id.as_str()));
    assert_eq!(issued.subject_id.as_deref(), Some(oma_id.as_str()));
    // The portal's two introspections read Oma's data, for Kees; the refused userinfo read nothing.
    let reads: Vec<_> = records.iter().filter(|r| r.event_type == "token.introspected").collect();
    assert_eq!(reads.len(), 2);
    for read in reads {
        assert_eq!(read.subject_id.as_deref(), Some(oma_id.as_str()));
        let detail: serde_json::Value = serde_json::from_str(&read.detail).unwrap();
        assert_eq!(detail["act"], kees_id.as_str(), "{detail}");
    }
    assert!(records.iter().all(|r| r.event_type != "userinfo.read"));
}

#[tokio::test]
async fn tokens_that_cannot_be_made_leave_the_code_unspent_and_unrecorded() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    app.user("oma").await;
    let oma_id = app.state.store.account_by_username("oma").await.unwrap().unwrap().id;
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "kees", crate::helpers::PASSWORD).await;
    let code = query_param(&callback, "code").unwrap();
    let pool = sqlx::SqlitePool::connect(app.state.config.database.url.expose()).await.unwrap();
    // The person acted for can no longer be named (their account is disabled): no tokens.
    set_acting_for(&app, &code, Some(&oma_id)).await;
    sqlx::query("UPDATE accounts SET disabled = TRUE WHERE id = $1")
        .bind(oma_id.as_str())
        .execute(&pool)
        .await
        .unwrap();
    assert!(rp.exchange(&query_param(&callback, "code").unwrap(), &start).await.is_err());
    let records = app.state.store.audit_records_after(0, 1000).await.unwrap();
    assert!(records.iter().all(|r| r.event_type != "token.issued"), "no record of tokens that were not issued");
    let kept = codes::find(app.state.kv.as_ref(), &idp::crypto::token_digest(&code)).await.unwrap();
    assert!(matches!(kept, Some(codes::Found::Issued(_))), "the code is not spent");
    // Acting for himself again, the same code still works once.
    set_acting_for(&app, &code, None).await;
    rp.finish(&callback, &start).await;
}
