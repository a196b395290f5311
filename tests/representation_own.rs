//! Client control (docs/representation.md): on the account page the client sees who may act for
//! them and revokes it; the representative sees whom they act for and may stop; nobody ends
//! someone else's; "Activiteit" shows who acted for the client.

use reqwest::StatusCode;

use crate::helpers::browser::{location, Page};
use crate::helpers::{Browser, TestApp, PASSWORD};
use crate::representation::{care_client, grant_of, portal, records};

async fn account_page(browser: &Browser, username: &str) -> Page {
    let login = browser.follow("/account").await.unwrap_err();
    let back = browser.submit_login(&login, username, PASSWORD).await;
    assert_eq!(location(&back).as_deref(), Some("/account"));
    browser.follow("/account").await.unwrap_err()
}

/// Posts the end of representation `id` with the CSRF token of `page` (a form of this session).
async fn end(browser: &Browser, page: &Page, id: &str) -> reqwest::Response {
    let form = [("csrf", page.field("csrf")), ("representation", id)];
    browser.post_form("/account/vertegenwoordiging-beeindigen", &form).await
}

/// "Weet u het zeker?" for representation `id`, as the page's link opens it.
async fn confirmation(browser: &Browser, id: &str) -> Result<String, Page> {
    browser.follow(&format!("/account/vertegenwoordiging-beeindigen?id={id}")).await
}

#[tokio::test]
async fn the_client_sees_who_acts_for_them_and_revokes_it() {
    let app = TestApp::spawn().await;
    let rp = portal(&app).await;
    let kees = idp::admin::NewUser {
        username: "kees".into(),
        email: Some("kees@example.nl".into()),
        given_name: "Kees".into(),
        family_name: "de Vries".into(),
        birth_date: None,
        password: Some(idp::domain::Secret::new(PASSWORD.into())),
        temporary_password: false,
    };
    idp::admin::create_user(&app.admin(), kees, app.now()).await.unwrap();
    app.user("oma").await;
    care_client(&app, "C-200", "Oma", Some("oma")).await;
    care_client(&app, "C-300", "Vreemde", None).await;
    let to_oma =
        idp::representation::admin::grant(&app.admin(), grant_of(&app, "C-200", "kees", "messages"), app.now())
            .await
            .unwrap();
    app.user("piet").await;
    let to_stranger =
        idp::representation::admin::grant(&app.admin(), grant_of(&app, "C-300", "piet", "messages"), app.now())
            .await
            .unwrap();
    // Kees signs in for Oma (his only choice) at the portal.
    let start = rp.start_scoped(&["messages"], &[]);
    let callback = app.browser().sign_in(&start.url, "kees", PASSWORD).await;
    let tokens = rp.finish(&callback, &start).await;

    // Oma's account page lists Kees, what he may see, since when.
    let oma = app.browser();
    let page = account_page(&oma, "oma").await;
    assert!(page.body.contains("Wie kan namens u inloggen"), "{}", page.body);
    assert!(page.body.contains("Kees de Vries") && page.body.contains("zoon of dochter"), "{}", page.body);
    assert!(page.body.contains("berichten") && page.body.contains(">Intrekken<"), "{}", page.body);
    // Her activity shows what Kees did for her.
    let activity = oma.follow("/account/activiteit").await.unwrap_err();
    assert!(activity.body.contains("Een portaal kreeg toegang tot uw gegevens"), "{}", activity.body);
    assert!(activity.body.contains("door Kees de Vries"), "{}", activity.body);

    // Another client's representation is not hers to end: no question, and the form sent anyway
    // (with this session's token) is refused and recorded.
    let back = oma.get(&format!("/account/vertegenwoordiging-beeindigen?id={}", to_stranger.id)).await;
    assert_eq!(location(&back).as_deref(), Some("/account"));
    let confirm = confirmation(&oma, to_oma.id.as_str()).await.unwrap_err();
    assert!(confirm.body.contains("Kees de Vries kan daarna niet meer namens u inloggen"), "{}", confirm.body);
    let refused = end(&oma, &confirm, to_stranger.id.as_str()).await;
    assert_eq!(location(&refused).as_deref(), Some("/account"));
    assert_eq!(app.state.store.representation_by_id(&to_stranger.id).await.unwrap().unwrap().status.as_str(), "active");
    let failed = records(&app, "representation.ended").await;
    assert_eq!((failed.len(), failed[0].outcome.as_str()), (1, "failure"));

    // She revokes Kees: his tokens stop at once.
    let done = end(&oma, &confirm, to_oma.id.as_str()).await;
    assert_eq!(done.status(), StatusCode::OK);
    let shown = crate::helpers::browser::to_page(done).await;
    assert!(shown.body.contains("Niemand kan namens u inloggen."), "{}", shown.body);
    assert!(rp.refresh(&tokens.refresh_token()).await.is_err());
    let ended = records(&app, "representation.ended").await;
    let ok = ended.iter().find(|r| r.outcome == "success").unwrap();
    assert_eq!(ok.subject_id.as_deref(), Some(to_oma.care_client_id.as_str()));
    let history = app.state.store.representation_history(&to_oma.id).await.unwrap();
    assert_eq!(history.last().unwrap().change, "revoked_by_client");
}

#[tokio::test]
async fn the_representative_sees_whom_they_act_for_and_may_stop() {
    let app = TestApp::spawn().await;
    app.user("kees").await;
    care_client(&app, "C-200", "Oma", None).await;
    let to_oma =
        idp::representation::admin::grant(&app.admin(), grant_of(&app, "C-200", "kees", "messages"), app.now())
            .await
            .unwrap();
    let kees = app.browser();
    let page = account_page(&kees, "kees").await;
    assert!(page.body.contains("Namens wie u kunt inloggen") && page.body.contains("Oma Jansen"), "{}", page.body);
    let confirm = confirmation(&kees, to_oma.id.as_str()).await.unwrap_err();
    assert!(confirm.body.contains("U kunt daarna niet meer namens Oma Jansen inloggen"), "{}", confirm.body);
    let done = crate::helpers::browser::to_page(end(&kees, &confirm, to_oma.id.as_str()).await).await;
    assert!(done.body.contains("U kunt niet namens iemand anders inloggen."), "{}", done.body);
    let history = app.state.store.representation_history(&to_oma.id).await.unwrap();
    assert_eq!(history.last().unwrap().change, "ended_by_representative");
    let ended = records(&app, "representation.ended").await;
    assert_eq!(ended[0].actor_role, "representative");
}

#[tokio::test]
async fn a_legal_representative_is_not_the_clients_to_revoke() {
    let app = TestApp::spawn().await;
    app.user("mentor").await;
    app.user("client").await;
    care_client(&app, "C-1", "Cliënt", Some("client")).await;
    let new = idp::representation::admin::NewRepresentation {
        kind: "legal_representative".into(),
        role: "mentor".into(),
        ..grant_of(&app, "C-1", "mentor", "messages,dossier")
    };
    let mentor = idp::representation::admin::grant(&app.admin(), new, app.now()).await.unwrap();
    let browser = app.browser();
    let page = account_page(&browser, "client").await;
    assert!(page.body.contains("Dit is uw wettelijk vertegenwoordiger"), "{}", page.body);
    assert!(!page.body.contains(">Intrekken<"), "no way to revoke a mentor");
    let back = browser.get(&format!("/account/vertegenwoordiging-beeindigen?id={}", mentor.id)).await;
    assert_eq!(location(&back).as_deref(), Some("/account"), "nor a question");
    // The form sent anyway (with this session's token, from another of its forms): refused.
    let with_token = browser.follow("/account/telefoon").await.unwrap_err();
    assert_eq!(location(&end(&browser, &with_token, mentor.id.as_str()).await).as_deref(), Some("/account"));
    let kept = app.state.store.representation_by_id(&mentor.id).await.unwrap().unwrap();
    assert_eq!(kept.status.as_str(), "active", "the form refused, the mentor stays");
}
