//! Who acts for whom in tokens (docs/tokens.md, "Acting for someone else"): someone acting for
//! themself gets exactly the tokens they always got, and a code whose principal the account may
//! not act for gives no tokens and stays unspent. Representation end to end (the choice, `act`,
//! narrowed scopes, revocation) is tests/representation.rs.

use crate::helpers::browser::query_param;
use crate::helpers::TestApp;
use idp::domain::Party;
use idp::oidc::codes;
use idp::oidc::tokens::{verify_access_token, AccessTokenClaims};

/// Makes the code stand for `acting_for`, as if chosen at "Namens wie wilt u inloggen?".
async fn set_acting_for(app: &TestApp, code: &str, acting_for: Option<Party>) {
    let (kv, digest) = (app.state.kv.as_ref(), idp::crypto::token_digest(code));
    let Some(codes::Found::Issued(mut record)) = codes::find(kv, &digest).await.unwrap() else {
        panic!("the code is not waiting to be redeemed")
    };
    record.acting_for = acting_for;
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
async fn tokens_that_cannot_be_made_leave_the_code_unspent_and_unrecorded() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "kees", crate::helpers::PASSWORD).await;
    let code = query_param(&callback, "code").unwrap();
    // A care client Kees does not represent (a tampered choice): no tokens.
    let care = idp::representation::admin::NewCareClient {
        org: app.org.clone(),
        number: "C-1".into(),
        given_name: "Oma".into(),
        family_name: "Jansen".into(),
        birth_date: None,
        username: None,
    };
    let oma = idp::representation::admin::add_care_client(&app.admin(), care, app.now()).await.unwrap();
    set_acting_for(&app, &code, Some(Party::CareClient(oma.id.clone()))).await;
    assert!(rp.exchange(&query_param(&callback, "code").unwrap(), &start).await.is_err());
    let records = app.state.store.audit_records_after(0, 1000).await.unwrap();
    assert!(records.iter().all(|r| r.event_type != "token.issued"), "no record of tokens that were not issued");
    let kept = codes::find(app.state.kv.as_ref(), &idp::crypto::token_digest(&code)).await.unwrap();
    assert!(matches!(kept, Some(codes::Found::Issued(_))), "the code is not spent");
    // Acting for himself again, the same code still works once.
    set_acting_for(&app, &code, None).await;
    rp.finish(&callback, &start).await;
}
