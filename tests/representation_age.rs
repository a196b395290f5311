//! The WGBO's ages (docs/representation.md): under 12 a parent acts alone; from 12 to 16 a
//! parent sees the dossier only with the child's recorded consent; at 16 the parent's
//! representation ends, for tokens made before the birthday too, with a notice to both. The
//! clock is set to the day before, the moment of, and the day after the 16th birthday.

use openidconnect::OAuth2TokenResponse;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};
use crate::representation::{claims, introspect, portal, userinfo};
use idp::representation::admin::{self, NewCareClient, NewRepresentation};
use idp::store::CareClient;

async fn child(app: &TestApp, number: &str, birth: time::Date, username: Option<&str>) -> CareClient {
    let new = NewCareClient {
        org: app.org.clone(),
        number: number.into(),
        given_name: "Pim".into(),
        family_name: "Jansen".into(),
        birth_date: Some(birth.to_string()),
        username: username.map(str::to_string),
    };
    admin::add_care_client(&app.admin(), new, app.now()).await.expect("child")
}

fn parent_of(app: &TestApp, number: &str) -> NewRepresentation {
    NewRepresentation {
        org: app.org.clone(),
        number: number.into(),
        username: "moeder".into(),
        kind: "legal_representative".into(),
        role: "parent".into(),
        sections: "messages,dossier".into(),
        basis: "ouderlijk gezag".into(),
        until: None,
    }
}

fn today(app: &TestApp) -> time::Date {
    idp::representation::today(app.now())
}

#[tokio::test]
async fn under_12_a_parent_acts_alone_and_a_parents_grant_needs_a_young_client() {
    let app = TestApp::spawn().await;
    let rp = portal(&app).await;
    app.user("moeder").await;
    let eight = time::Date::from_calendar_date(today(&app).year() - 8, time::Month::January, 10).unwrap();
    let pim = child(&app, "K-1", eight, None).await;
    admin::grant(&app.admin(), parent_of(&app, "K-1"), app.now()).await.unwrap();
    let start = rp.start_scoped(&["messages", "dossier"], &[]);
    let callback = app.browser().sign_in(&start.url, "moeder", crate::helpers::PASSWORD).await;
    let tokens = rp.finish(&callback, &start).await;
    let access = claims(&app, tokens.access_token().secret());
    assert_eq!((access.sub.as_str(), access.scope.as_str()), (pim.subject.as_str(), "openid messages dossier"));
    // A child's consent counts from 12: under 12 there is nothing to consent to.
    let (_, listed) = admin::list(app.state.store.as_ref(), &app.org, "K-1").await.unwrap();
    assert!(admin::record_minor_consent(&app.admin(), listed[0].0.id.as_str(), app.now()).await.is_err());

    // A parent's representation needs the client's birth date, and a client under 16.
    let unknown = NewCareClient {
        org: app.org.clone(),
        number: "K-2".into(),
        given_name: "Zonder".into(),
        family_name: "Datum".into(),
        birth_date: None,
        username: None,
    };
    admin::add_care_client(&app.admin(), unknown, app.now()).await.unwrap();
    assert!(admin::grant(&app.admin(), parent_of(&app, "K-2"), app.now()).await.is_err());
    let grown = time::Date::from_calendar_date(today(&app).year() - 17, time::Month::January, 10).unwrap();
    child(&app, "K-3", grown, None).await;
    assert!(admin::grant(&app.admin(), parent_of(&app, "K-3"), app.now()).await.is_err());
    // A mentor is not bound by the ages.
    let mentor = NewRepresentation { role: "mentor".into(), ..parent_of(&app, "K-3") };
    admin::grant(&app.admin(), mentor, app.now()).await.unwrap();
}

#[tokio::test]
async fn from_12_the_dossier_needs_consent_and_at_16_the_parent_is_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.tokens.refresh_token_ttl_secs = 3 * 86_400).await;
    let rp = portal(&app).await;
    app.user("moeder").await;
    app.user("pim").await;
    // Pim turns 16 tomorrow.
    let tomorrow = today(&app).next_day().unwrap();
    let birth = idp::domain::representation::birthday(tomorrow, -16);
    let pim = child(&app, "K-1", birth, Some("pim")).await;
    let parent = admin::grant(&app.admin(), parent_of(&app, "K-1"), app.now()).await.unwrap();

    // Fifteen: the dossier is left out until Pim consents.
    let sign_in = || async {
        let start = rp.start_scoped(&["messages", "dossier"], &[]);
        let callback = app.browser().sign_in(&start.url, "moeder", crate::helpers::PASSWORD).await;
        rp.finish(&callback, &start).await
    };
    let tokens = sign_in().await;
    assert_eq!(claims(&app, tokens.access_token().secret()).scope, "openid messages");
    admin::record_minor_consent(&app.admin(), parent.id.as_str(), app.now()).await.unwrap();
    assert!(admin::record_minor_consent(&app.admin(), parent.id.as_str(), app.now()).await.is_err(), "once");
    let tokens = sign_in().await;
    let access = claims(&app, tokens.access_token().secret());
    assert_eq!((access.sub.as_str(), access.scope.as_str()), (pim.subject.as_str(), "openid messages dossier"));

    // The day before the birthday, to its last second: still in.
    // The birthday begins at midnight in the Netherlands.
    let birthday = idp::representation::start_of(tomorrow);
    assert_eq!(idp::representation::today(birthday - 1), today(&app));
    assert_eq!(idp::representation::today(birthday), tomorrow);
    app.clock.set(birthday - 1);
    let refreshed = rp.refresh(&tokens.refresh_token()).await.expect("fifteen still");
    // The birthday itself: the same tokens stop, though nothing revoked them yet.
    app.clock.set(birthday);
    let error = rp.refresh(&refreshed.refresh_token().unwrap().secret().clone()).await.unwrap_err();
    assert!(error.contains("invalid_grant"), "{error}");
    let access = refreshed.access_token().secret();
    assert_eq!(userinfo(&rp, access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&rp, access).await, serde_json::json!({ "active": false }));

    // The sweep: nothing the evening before, the representation ended (once) from the birthday,
    // with a notice to both.
    let deps: &idp::app::Deps = &app.state;
    app.clock.set(birthday - 1);
    assert_eq!(idp::representation::age::end_by_age(deps, app.now()).await.unwrap(), 0, "fifteen still");
    app.clock.set(birthday);
    assert_eq!(idp::representation::age::end_by_age(deps, app.now()).await.unwrap(), 1);
    assert_eq!(idp::representation::age::end_by_age(deps, app.now()).await.unwrap(), 0);
    let ended = app.state.store.representation_by_id(&parent.id).await.unwrap().unwrap();
    assert_eq!(ended.status.as_str(), "expired");
    let history = app.state.store.representation_history(&parent.id).await.unwrap();
    let changes: Vec<&str> = history.iter().map(|h| h.change.as_str()).collect();
    assert_eq!(changes, vec!["granted", "minor_consented", "age_16"]);
    app.state.deliver_mail().await.unwrap();
    let mails = app.mails();
    let to_parent = mails.iter().find(|m| m.to.contains("moeder@")).expect("a notice to the parent");
    assert!(to_parent.subject.contains("niet meer inloggen namens Pim Jansen"), "{}", to_parent.subject);
    let to_pim = mails.iter().find(|m| m.to.contains("pim@")).expect("a notice to Pim");
    assert!(to_pim.text.contains("U bent 16 jaar geworden"), "{}", to_pim.text);
    let records = app.state.store.audit_records_after(0, 10_000).await.unwrap();
    let end = records.iter().find(|r| r.event_type == "representation.ended").expect("recorded");
    assert_eq!((end.actor_role.as_str(), end.subject_id.as_deref()), ("system", Some(pim.id.as_str())));
    assert!(records.iter().any(|r| r.event_type == "representation.changed"), "the consent is recorded");
}
