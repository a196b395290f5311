//! Who may act for whom, end to end (docs/representation.md, docs/tokens.md): "Namens wie wilt u
//! inloggen?" after sign-in, tokens whose `sub` is the care client and whose `act` is the
//! representative, scopes narrowed to the sections granted, revocation and end dates that take
//! effect at once, and choices from outside the list refused and recorded.

use base64::Engine;
use openidconnect::OAuth2TokenResponse;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::browser::{location, query_param, to_page, Page};
use crate::helpers::rp::{AuthStart, Tokens};
use crate::helpers::{Backend, Rp, TestApp, PASSWORD};
use idp::oidc::tokens::{verify_access_token, AccessTokenClaims};
use idp::representation::admin::{self, NewCareClient, NewRepresentation};
use idp::store::{CareClient, Representation};

/// The scopes the family portal may ask: OpenID, the profile, and four sections.
const PORTAL_SCOPES: &str = "openid profile email messages appointments dossier settings";

/// Kees (an account and a client himself) and his mother, Oma Jansen (a client without an
/// account), at one organisation; Kees may act for her as her son, in messages and appointments.
pub(crate) struct Family {
    pub app: TestApp,
    pub rp: Rp,
    pub kees_sub: String,
    pub own: CareClient,
    pub oma: CareClient,
    pub to_oma: Representation,
}

pub(crate) async fn portal(app: &TestApp) -> Rp {
    let portal = app
        .portal_tweaked("familie", |c| {
            c.name = "Familieportaal".into();
            c.scopes = PORTAL_SCOPES.into();
        })
        .await;
    app.rp(&portal).await
}

pub(crate) async fn care_client(app: &TestApp, number: &str, given: &str, username: Option<&str>) -> CareClient {
    let new = NewCareClient {
        org: app.org.clone(),
        number: number.into(),
        given_name: given.into(),
        family_name: "Jansen".into(),
        birth_date: Some("1940-05-01".into()),
        username: username.map(str::to_string),
    };
    admin::add_care_client(&app.admin(), new, app.now()).await.expect("care client")
}

pub(crate) fn grant_of(app: &TestApp, number: &str, username: &str, sections: &str) -> NewRepresentation {
    NewRepresentation {
        org: app.org.clone(),
        number: number.into(),
        username: username.into(),
        kind: "contact".into(),
        role: "child".into(),
        sections: sections.into(),
        basis: "aangemeld door de cliënt".into(),
        until: None,
    }
}

async fn family_in(app: TestApp) -> Family {
    let rp = portal(&app).await;
    let kees_sub = app.user("kees").await;
    let own = care_client(&app, "C-100", "Kees", Some("kees")).await;
    let oma = care_client(&app, "C-200", "Oma", None).await;
    let to_oma =
        admin::grant(&app.admin(), grant_of(&app, "C-200", "kees", "messages,appointments"), app.now()).await.unwrap();
    Family { app, rp, kees_sub, own, oma, to_oma }
}

async fn family() -> Family {
    family_in(TestApp::spawn().await).await
}

/// Signs in with the password from `start`; returns where the IdP sent the browser next: the
/// portal (`Ok`) or a page of its own (`Err`).
pub(crate) async fn sign_in(
    app: &TestApp,
    browser: &crate::helpers::Browser,
    start: &AuthStart,
) -> Result<String, Page> {
    let login = browser.follow(&start.url).await.expect_err("the sign-in page");
    let response = browser.submit_login(&login, "kees", PASSWORD).await;
    assert!(response.status().is_redirection(), "signed in: {}", response.status());
    let next = location(&response).unwrap();
    if next.starts_with(&app.issuer) || next.starts_with('/') {
        browser.follow(&next).await
    } else {
        Ok(next)
    }
}

/// Chooses `value` on "Namens wie wilt u inloggen?" and returns the answer.
pub(crate) async fn choose(browser: &crate::helpers::Browser, page: &Page, value: &str) -> reqwest::Response {
    let form = [("interaction", page.field("interaction")), ("csrf", page.field("csrf")), ("choice", value)];
    browser.post_form("/namens", &form).await
}

pub(crate) fn claims(app: &TestApp, token: &str) -> AccessTokenClaims {
    verify_access_token(&app.state.keys(), &app.issuer, token, app.now()).expect("a valid access token")
}

/// The payload of a JWT, as JSON (for claims the RP library does not model).
pub(crate) fn payload(jwt: &str) -> Value {
    payload_of(jwt, 1)
}

/// Part `index` of a JWT (0: the header, 1: the payload), as JSON.
pub(crate) fn payload_of(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub(crate) async fn introspect(rp: &Rp, token: &str) -> Value {
    let request = rp.http.post(format!("{}/introspect", rp.issuer));
    let request = request.basic_auth(&rp.portal.client_id, rp.portal.secret.as_ref()).form(&[("token", token)]);
    request.send().await.unwrap().json().await.unwrap()
}

pub(crate) async fn userinfo(rp: &Rp, token: &str) -> (StatusCode, Value) {
    let response = rp.http.get(format!("{}/userinfo", rp.issuer)).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn records(app: &TestApp, kind: &str) -> Vec<idp::store::AuditRecord> {
    let all = app.state.store.audit_records_after(0, 10_000).await.unwrap();
    all.into_iter().filter(|r| r.event_type == kind).collect()
}

/// Kees signs in to the family portal, is asked on whose behalf, chooses his mother, and the
/// portal receives tokens for her data, with him as the actor, in the sections he holds only.
async fn kees_for_oma(f: &Family) -> (Tokens, AuthStart) {
    let browser = f.app.browser();
    let start = f.rp.start_scoped(&["profile", "messages", "appointments", "settings"], &[]);
    let page = sign_in(&f.app, &browser, &start).await.expect_err("the choice");
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Namens wie wilt u inloggen?"), "{}", page.body);
    assert!(page.body.contains("Oma Jansen") && page.body.contains("zoon of dochter"), "{}", page.body);
    assert!(page.body.contains("Kees Jansen") && page.body.contains("Uw eigen gegevens"), "{}", page.body);
    let response = choose(&browser, &page, f.oma.id.as_str()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = location(&response).unwrap();
    (f.rp.finish(&callback, &start).await, start)
}

#[tokio::test]
async fn a_representative_chooses_and_the_tokens_say_for_whom() {
    let f = family().await;
    let (tokens, _) = kees_for_oma(&f).await;

    // The ID token (checked by the openidconnect crate) names who signed in, and whom for.
    assert_eq!(tokens.claims.subject().as_str(), f.kees_sub);
    let id = payload(&tokens.id_token);
    assert_eq!(id["acting_for"]["sub"], f.oma.subject.as_str(), "{id}");
    assert_eq!(id["acting_for"]["client_number"], "C-200");
    assert_eq!(id["acting_for"]["organisation"], f.oma.organisation_id.as_str());

    // The access token reaches Oma's data, with Kees as the actor, and only the sections he holds:
    // `settings` was asked but is not his to give.
    let access = claims(&f.app, tokens.access_token().secret());
    assert_eq!(access.sub, f.oma.subject.as_str());
    assert_eq!(access.act.as_ref().map(|a| a.sub.as_str()), Some(f.kees_sub.as_str()));
    assert_eq!(access.scope, "openid profile messages appointments");
    let representation = access.representation.clone().expect("the representation claim");
    assert_eq!((representation.kind.as_str(), representation.role.as_str()), ("contact", "child"));
    let scope: Vec<String> = tokens.response.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scope.join(" "), access.scope, "the token response says what was given");

    // Introspection says the same, for the access and the refresh token.
    for token in [tokens.access_token().secret().clone(), tokens.refresh_token()] {
        let body = introspect(&f.rp, &token).await;
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["sub"], f.oma.subject.as_str(), "{body}");
        assert_eq!(body["act"]["sub"], f.kees_sub.as_str(), "{body}");
        assert_eq!(body["representation"]["role"], "child", "{body}");
        assert_eq!(body["scope"], access.scope.as_str(), "{body}");
    }

    // Userinfo answers about who signed in (its `sub` is the ID token's) and names whom for.
    let (status, info) = userinfo(&f.rp, tokens.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["sub"], f.kees_sub.as_str());
    assert_eq!(info["acting_for"]["sub"], f.oma.subject.as_str());

    // A refresh keeps the principal and the narrowing.
    let refreshed = f.rp.refresh(&tokens.refresh_token()).await.expect("refresh");
    let again = claims(&f.app, refreshed.access_token().secret());
    assert_eq!((again.sub.as_str(), again.scope.as_str()), (f.oma.subject.as_str(), access.scope.as_str()));

    // The audit log: the choice, and tokens issued to a representative for Oma.
    let chosen = records(&f.app, "representation.chosen").await;
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].subject_id.as_deref(), Some(f.oma.id.as_str()));
    assert_eq!(chosen[0].outcome, "success");
    let issued = records(&f.app, "token.issued").await;
    let issued = issued.iter().find(|r| r.subject_id.as_deref() == Some(f.oma.id.as_str())).expect("token.issued");
    assert_eq!(issued.actor_role, "representative");
}

#[tokio::test]
async fn the_client_opens_their_own_portal_with_their_client_subject() {
    let f = family().await;
    let browser = f.app.browser();
    let start = f.rp.start_scoped(&["profile", "settings"], &[]);
    let page = sign_in(&f.app, &browser, &start).await.expect_err("the choice");
    let callback = location(&choose(&browser, &page, f.own.id.as_str()).await).unwrap();
    let tokens = f.rp.finish(&callback, &start).await;
    let access = claims(&f.app, tokens.access_token().secret());
    assert_eq!(access.sub, f.own.subject.as_str(), "the dossier's subject, whoever opens it");
    assert_eq!(access.act, None, "nobody acts for another");
    assert_eq!(access.representation, None);
    assert_eq!(access.scope, "openid profile settings", "their own sections are all theirs");
    assert_eq!(payload(&tokens.id_token)["acting_for"]["client_number"], "C-100");
    let issued = records(&f.app, "token.issued").await;
    assert_eq!(issued[0].actor_role, "client");
}

#[tokio::test]
async fn a_choice_from_outside_the_list_is_refused_and_recorded() {
    let f = family().await;
    // Someone Kees does not represent, at the same organisation.
    let stranger = care_client(&f.app, "C-300", "Vreemde", None).await;
    let browser = f.app.browser();
    let start = f.rp.start_scoped(&["profile", "messages"], &[]);
    let page = sign_in(&f.app, &browser, &start).await.expect_err("the choice");
    let refused = to_page(choose(&browser, &page, stranger.id.as_str()).await).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("Kies een van de personen in de lijst."), "{}", refused.body);
    assert!(refused.body.contains("Oma Jansen") && refused.body.contains("Kees Jansen"), "the list again");
    let failed = records(&f.app, "representation.chosen").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].outcome, "failure");
    // Nothing was issued; the page still works with a real choice.
    assert!(records(&f.app, "token.issued").await.is_empty());
    let callback = location(&choose(&browser, &refused, f.oma.id.as_str()).await).unwrap();
    let tokens = f.rp.finish(&callback, &start).await;
    assert_eq!(claims(&f.app, tokens.access_token().secret()).sub, f.oma.subject.as_str());
}

#[tokio::test]
async fn the_portal_may_name_whom_and_a_wrong_name_lets_the_person_choose() {
    let f = family().await;
    let browser = f.app.browser();
    // Named by the portal (Oma's `sub` from an earlier token): no question.
    let start = f.rp.start_scoped(&["profile", "messages"], &[("acting_for", f.oma.subject.as_str())]);
    let callback = sign_in(&f.app, &browser, &start).await.expect("straight back to the portal");
    let tokens = f.rp.finish(&callback, &start).await;
    assert_eq!(claims(&f.app, tokens.access_token().secret()).sub, f.oma.subject.as_str());

    // A second portal visit with a session: single sign-on, still no question when named.
    let start = f.rp.start_scoped(&["messages"], &[("acting_for", f.own.subject.as_str())]);
    let callback = browser.follow(&start.url).await.expect("single sign-on");
    let tokens = f.rp.finish(&callback, &start).await;
    assert_eq!(claims(&f.app, tokens.access_token().secret()).sub, f.own.subject.as_str());

    // Someone Kees does not represent: he is asked instead, told why, and it is recorded.
    let start = f.rp.start_scoped(&["messages"], &[("acting_for", "not-a-client-of-kees")]);
    let page = browser.follow(&start.url).await.expect_err("the choice");
    assert!(page.body.contains("U kunt niet namens die persoon inloggen"), "{}", page.body);
    let chosen = records(&f.app, "representation.chosen").await;
    assert_eq!(chosen.iter().filter(|r| r.outcome == "failure").count(), 1);

    // Without a name, with a session and two choices: asked (and prompt=none cannot ask).
    let start = f.rp.start_scoped(&["messages"], &[("prompt", "none")]);
    let callback = browser.follow(&start.url).await.expect("back to the portal");
    assert_eq!(query_param(&callback, "error").as_deref(), Some("account_selection_required"));
}

#[tokio::test]
async fn one_choice_needs_no_question_unless_the_portal_asks() {
    let app = TestApp::spawn().await;
    let rp = portal(&app).await;
    app.user("kees").await;
    let oma = care_client(&app, "C-200", "Oma", None).await;
    admin::grant(&app.admin(), grant_of(&app, "C-200", "kees", "messages"), app.now()).await.unwrap();
    let browser = app.browser();
    let start = rp.start_scoped(&["messages"], &[]);
    let callback = sign_in(&app, &browser, &start).await.expect("the only choice, without a question");
    let tokens = rp.finish(&callback, &start).await;
    assert_eq!(claims(&app, tokens.access_token().secret()).sub, oma.subject.as_str());
    // prompt=select_account asks even so.
    let start = rp.start_scoped(&["messages"], &[("prompt", "select_account")]);
    let page = browser.follow(&start.url).await.expect_err("the choice");
    assert!(page.body.contains("Oma Jansen"), "{}", page.body);
}

#[tokio::test]
async fn revoking_a_representation_ends_its_tokens_at_once() {
    let f = family().await;
    let (tokens, _) = kees_for_oma(&f).await;
    let access = tokens.access_token().secret().clone();
    assert_eq!(introspect(&f.rp, &access).await["active"], true);

    let ended = admin::revoke(&f.app.admin(), f.to_oma.id.as_str(), f.app.now()).await.unwrap();
    assert_eq!(ended.status.as_str(), "revoked");
    // At once: the refresh token and userinfo are checked against the database.
    assert!(f.rp.refresh(&tokens.refresh_token()).await.unwrap_err().contains("invalid_grant"));
    assert_eq!(userinfo(&f.rp, &access).await.0, StatusCode::UNAUTHORIZED);
    // The revocation was idp-admin's (another process): a running node forgets the access tokens
    // it verified at its next poll of the revocation counter (cache.poll_interval_ms), run here.
    f.app.state.refresh_caches().await.unwrap();
    assert_eq!(introspect(&f.rp, &access).await, serde_json::json!({ "active": false }));
    let recorded = records(&f.app, "representation.ended").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].subject_id.as_deref(), Some(f.oma.id.as_str()));
    // Oma is no longer a choice: Kees opens his own portal without a question.
    let start = f.rp.start_scoped(&["messages"], &[]);
    let callback = f.app.browser().sign_in(&start.url, "kees", PASSWORD).await;
    let tokens = f.rp.finish(&callback, &start).await;
    assert_eq!(claims(&f.app, tokens.access_token().secret()).sub, f.own.subject.as_str());
    // Revoking again says so.
    let again = admin::revoke(&f.app.admin(), f.to_oma.id.as_str(), f.app.now()).await;
    assert!(matches!(again, Err(idp::admin::AdminError::Invalid(_))), "{again:?}");
}

#[tokio::test]
async fn an_end_date_takes_effect_without_anyone_revoking() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.tokens.refresh_token_ttl_secs = 3 * 86_400).await;
    let rp = portal(&app).await;
    app.user("kees").await;
    let oma = care_client(&app, "C-200", "Oma", None).await;
    let today = idp::representation::today(app.now());
    let new = NewRepresentation { until: Some(today.to_string()), ..grant_of(&app, "C-200", "kees", "messages") };
    let granted = admin::grant(&app.admin(), new, app.now()).await.unwrap();
    let ends_at = granted.ends_at.expect("an end");
    assert_eq!(ends_at, idp::representation::start_of(today.next_day().unwrap()), "through that day (Dutch time)");
    let start = rp.start_scoped(&["messages"], &[]);
    let callback = app.browser().sign_in(&start.url, "kees", PASSWORD).await;
    let tokens = rp.finish(&callback, &start).await;
    assert_eq!(claims(&app, tokens.access_token().secret()).sub, oma.subject.as_str());

    app.clock.set(ends_at - 60);
    let refreshed = rp.refresh(&tokens.refresh_token()).await.expect("in force until its end");
    app.clock.set(ends_at + 1);
    let error = rp.refresh(&refreshed.refresh_token().unwrap().secret().clone()).await.unwrap_err();
    assert!(error.contains("invalid_grant"), "{error}");
    assert_eq!(userinfo(&rp, refreshed.access_token().secret()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&rp, refreshed.access_token().secret()).await, serde_json::json!({ "active": false }));
    assert!(idp::representation::choices(
        app.state.store.as_ref(),
        &granted.account_id,
        &oma.organisation_id,
        app.now()
    )
    .await
    .unwrap()
    .is_empty());
    // A lapsed representation may be granted anew (the old one is ended as expired first).
    let renewed = admin::grant(&app.admin(), grant_of(&app, "C-200", "kees", "messages"), app.now()).await.unwrap();
    let (_, listed) = admin::list(app.state.store.as_ref(), &app.org, "C-200").await.unwrap();
    let states: Vec<(&str, &str)> = listed.iter().map(|(r, _)| (r.id.as_str(), r.status.as_str())).collect();
    assert_eq!(states, vec![(granted.id.as_str(), "expired"), (renewed.id.as_str(), "active")]);

    // An end date in the past is refused.
    let yesterday = today.previous_day().unwrap().to_string();
    let new = NewRepresentation { until: Some(yesterday), ..grant_of(&app, "C-200", "kees", "messages") };
    assert!(admin::grant(&app.admin(), new, app.now()).await.is_err());
}

#[tokio::test]
async fn the_operator_cannot_grant_what_does_not_fit() {
    let f = family().await;
    let admin = f.app.admin();
    let now = f.app.now();
    let wrong = [
        NewRepresentation {
            kind: "contact".into(),
            role: "curator".into(),
            ..grant_of(&f.app, "C-200", "kees", "messages")
        },
        NewRepresentation { sections: "messages,secrets".into(), ..grant_of(&f.app, "C-200", "kees", "messages") },
        NewRepresentation { sections: "".into(), ..grant_of(&f.app, "C-200", "kees", "messages") },
        grant_of(&f.app, "C-999", "kees", "messages"),
        // His own record needs no representation; a second live one for Oma is a conflict.
        grant_of(&f.app, "C-100", "kees", "messages"),
        grant_of(&f.app, "C-200", "kees", "dossier"),
    ];
    for new in wrong {
        assert!(admin::grant(&admin, new.clone(), now).await.is_err(), "{new:?}");
    }
    let failed = f.app.state.store.audit_records_after(0, 10_000).await.unwrap();
    let refused = failed.iter().filter(|r| r.event_type == "admin.command" && r.outcome == "failure").count();
    assert_eq!(refused, 6, "every refusal is recorded");
    let (_, listed) = admin::list(f.app.state.store.as_ref(), &f.app.org, "C-200").await.unwrap();
    assert_eq!(listed.len(), 1, "nothing else was granted");
}

#[tokio::test]
async fn representation_works_on_postgres_too() {
    let f = family_in(TestApp::spawn_with(Backend::Postgres, |_| {}).await).await;
    let (tokens, _) = kees_for_oma(&f).await;
    assert_eq!(claims(&f.app, tokens.access_token().secret()).sub, f.oma.subject.as_str());
    admin::revoke(&f.app.admin(), f.to_oma.id.as_str(), f.app.now()).await.unwrap();
    assert!(f.rp.refresh(&tokens.refresh_token()).await.is_err());
}

#[tokio::test]
async fn a_choice_is_kept_through_the_consent_step() {
    let f = family().await;
    let browser = f.app.browser();
    let start = f.rp.start_scoped(&["messages"], &[("prompt", "consent")]);
    let page = sign_in(&f.app, &browser, &start).await.expect_err("the choice");
    let next = location(&choose(&browser, &page, f.oma.id.as_str()).await).unwrap();
    let consent = browser.follow(&next).await.expect_err("the consent page");
    assert!(consent.body.contains("uw berichten"), "{}", consent.body);
    let form = [("interaction", consent.field("interaction")), ("csrf", consent.field("csrf")), ("decision", "allow")];
    let callback = location(&browser.post_form("/consent", &form).await).unwrap();
    let tokens = f.rp.finish(&callback, &start).await;
    let access = claims(&f.app, tokens.access_token().secret());
    assert_eq!((access.sub.as_str(), access.act.map(|a| a.sub)), (f.oma.subject.as_str(), Some(f.kees_sub.clone())));
}

#[tokio::test]
async fn sections_taken_away_before_the_exchange_are_not_given() {
    let f = family().await;
    let browser = f.app.browser();
    let start = f.rp.start_scoped(&["messages", "appointments"], &[]);
    let page = sign_in(&f.app, &browser, &start).await.expect_err("the choice");
    let callback = location(&choose(&browser, &page, f.oma.id.as_str()).await).unwrap();
    // Between the code and its exchange, Oma's grant to Kees shrinks to messages.
    admin::revoke(&f.app.admin(), f.to_oma.id.as_str(), f.app.now()).await.unwrap();
    admin::grant(&f.app.admin(), grant_of(&f.app, "C-200", "kees", "messages"), f.app.now()).await.unwrap();
    let tokens = f.rp.finish(&callback, &start).await;
    assert_eq!(claims(&f.app, tokens.access_token().secret()).scope, "openid messages");
}

#[tokio::test]
async fn someone_who_represents_nobody_may_be_asked_and_chooses_themself() {
    let app = TestApp::spawn().await;
    let rp = portal(&app).await;
    let sub = app.user("kees").await;
    let browser = app.browser();
    let start = rp.start_scoped(&["messages"], &[("prompt", "select_account")]);
    let page = sign_in(&app, &browser, &start).await.expect_err("asked, as the portal wishes");
    assert!(page.body.contains("Mijzelf"), "{}", page.body);
    // Another client's id is refused; "self" is the one choice.
    let other = care_client(&app, "C-1", "Iemand", None).await;
    assert_eq!(choose(&browser, &page, other.id.as_str()).await.status(), StatusCode::BAD_REQUEST);
    let callback = location(&choose(&browser, &page, "self").await).unwrap();
    let tokens = rp.finish(&callback, &start).await;
    assert_eq!(claims(&app, tokens.access_token().secret()).sub, sub);
    // The portal may send the account's own `sub` back as acting_for: it is himself, no question.
    let start = rp.start_scoped(&["messages"], &[("acting_for", sub.as_str()), ("prompt", "none")]);
    let callback = browser.follow(&start.url).await.expect("single sign-on");
    assert!(query_param(&callback, "code").is_some(), "{callback}");
}

#[tokio::test]
async fn a_client_of_another_organisation_is_never_a_choice() {
    let f = family().await;
    // Kees represents someone at another organisation too.
    idp::admin::create_organisation(&f.app.admin(), "elders", "Zorg Elders", f.app.now()).await.unwrap();
    let elsewhere = NewCareClient {
        org: "elders".into(),
        number: "E-1".into(),
        given_name: "Tante".into(),
        family_name: "Elders".into(),
        birth_date: None,
        username: None,
    };
    let tante = admin::add_care_client(&f.app.admin(), elsewhere, f.app.now()).await.unwrap();
    let new =
        NewRepresentation { org: "elders".into(), number: "E-1".into(), ..grant_of(&f.app, "E-1", "kees", "messages") };
    admin::grant(&f.app.admin(), new, f.app.now()).await.unwrap();
    let browser = f.app.browser();
    // Named by this portal: refused, and the list shows this organisation's clients only.
    let start = f.rp.start_scoped(&["messages"], &[("acting_for", tante.subject.as_str())]);
    let page = sign_in(&f.app, &browser, &start).await.expect_err("the choice");
    assert!(page.body.contains("U kunt niet namens die persoon inloggen"), "{}", page.body);
    assert!(!page.body.contains("Tante"), "{}", page.body);
    assert_eq!(choose(&browser, &page, tante.id.as_str()).await.status(), StatusCode::BAD_REQUEST);
}
