//! "Wachtwoord vergeten?": the same answer for every address, a single-use link valid one hour,
//! the organisation's rules, other sessions ended and a notice mailed.

use reqwest::StatusCode;

use crate::helpers::browser::{location, query_param, to_page, Browser};
use crate::helpers::{Mail, TestApp, PASSWORD};

async fn request_reset(app: &TestApp, email: &str) -> (StatusCode, String) {
    let response = app.browser().fill_in("/wachtwoord-vergeten", &[("email", email)]).await;
    (response.status(), response.text().await.unwrap())
}

fn link_in(mail: &Mail) -> String {
    mail.text.lines().find(|l| l.contains("/wachtwoord-herstellen?token=")).expect("a reset link").trim().to_string()
}

async fn mails(app: &TestApp) -> Vec<Mail> {
    // Reset requests are handled after the answer: wait for that work, then deliver.
    app.state.settle().await;
    app.state.deliver_mail().await.unwrap();
    app.mails()
}

#[tokio::test]
async fn the_answer_is_the_same_whether_or_not_the_address_is_known() {
    let app = TestApp::spawn().await;
    app.user("kees").await; // kees@example.nl
    let known = request_reset(&app, "kees@example.nl").await;
    let unknown = request_reset(&app, "niemand@example.nl").await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::OK);
    assert!(known.1.contains("Als dit e-mailadres bij ons bekend is"));
    let sent = mails(&app).await;
    assert_eq!(sent.len(), 1, "only the known address gets mail");
    assert_eq!(sent[0].subject, "Nieuw wachtwoord instellen");
    assert!(
        link_in(&sent[0]).starts_with(&format!("{}/wachtwoord-herstellen?token=", app.issuer)),
        "built from the public URL"
    );
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_sessions_and_notifies() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    // Kees is signed in somewhere (another browser) with a portal session.
    let elsewhere = app.browser();
    let tokens = rp.sign_in(&elsewhere, "kees").await;

    request_reset(&app, "KEES@example.nl").await;
    let link = link_in(&mails(&app).await[0]);
    let browser = app.browser();
    let form = to_page(browser.get(&link).await).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("kees") && form.body.contains(r#"autocomplete="new-password""#));
    let token = query_param(&link, "token").unwrap();

    // The default rules (NIST): length, no common passwords, nothing personal.
    let short = browser
        .post_form("/wachtwoord-herstellen", &[("token", &token), ("password", "kort"), ("password_repeat", "kort")])
        .await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(short.text().await.unwrap().contains("te kort"));
    let done = browser
        .post_form(
            "/wachtwoord-herstellen",
            &[("token", &token), ("password", "paard batterij nietje"), ("password_repeat", "paard batterij nietje")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Uw wachtwoord is gewijzigd"));

    // The link worked once.
    let again = browser.get(&link).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("al gebruikt of ouder dan een uur"));
    // The other session and its tokens are gone; a notice went out.
    let start = rp.start(&[("prompt", "none")]);
    let to = location(&elsewhere.get(&start.url).await).unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
    assert!(rp.refresh(&tokens.refresh_token()).await.is_err());
    let sent = mails(&app).await;
    assert_eq!(sent.last().unwrap().subject, "Uw wachtwoord is gewijzigd");
    // The reset itself signed nobody in: the browser that reset is still a stranger.
    let silent = rp.start(&[("prompt", "none")]);
    let to = location(&browser.get(&silent.url).await).unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
    // Old password out, new one in, on one sign-in form (so only the password differs).
    let fresh = app.browser();
    let start = rp.start(&[]);
    let page = fresh.follow(&start.url).await.unwrap_err();
    let old = fresh.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the old password no longer works");
    assert!(old.text().await.unwrap().contains("Gebruikersnaam of wachtwoord is onjuist"));
    let new = fresh.submit_login(&page, "kees", "paard batterij nietje").await;
    rp.finish(&to_portal(&fresh, &new).await, &start).await;
}

/// Where a sign-in's answer sends the browser, following the IdP's own redirects.
async fn to_portal(browser: &Browser, response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "signed in: {}", response.status());
    let to = location(response).unwrap();
    if to.starts_with('/') {
        browser.follow(&to).await.expect("on to the portal")
    } else {
        to
    }
}

#[tokio::test]
async fn a_link_expires_after_an_hour_and_forged_links_do_nothing() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    request_reset(&app, "kees@example.nl").await;
    let link = link_in(&mails(&app).await[0]);
    let token = query_param(&link, "token").unwrap();
    let new_password = "paard batterij nietje";
    let submit = |token: String| {
        let browser = app.browser();
        async move {
            let form = [("token", token.as_str()), ("password", new_password), ("password_repeat", new_password)];
            browser.post_form("/wachtwoord-herstellen", &form).await
        }
    };

    app.clock.advance(3599);
    assert_eq!(app.browser().get(&link).await.status(), StatusCode::OK, "valid in its last second");
    app.clock.advance(1);
    let late = app.browser().get(&link).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert!(late.text().await.unwrap().contains("al gebruikt of ouder dan een uur"));
    // A form opened in time and sent too late is refused as well, and changes nothing.
    let late = submit(token).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    let body = late.text().await.unwrap();
    assert!(body.contains("al gebruikt of ouder dan een uur") && !body.contains("Uw wachtwoord is gewijzigd"));
    assert_eq!(mails(&app).await.len(), 1, "no notice of a change");
    rp.sign_in(&app.browser(), "kees").await; // still the old password

    let forged = submit("forged".into()).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn requests_are_throttled_per_address_without_saying_so() {
    let app = TestApp::spawn().await;
    app.user("kees").await;
    for _ in 0..5 {
        let (status, body) = request_reset(&app, "kees@example.nl").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Als dit e-mailadres bij ons bekend is"));
    }
    assert_eq!(mails(&app).await.len(), 3, "at most three mails an hour to one address");
}

#[tokio::test]
async fn addresses_match_whatever_their_case_also_beyond_ascii() {
    let app = TestApp::spawn().await;
    let new = idp::admin::NewUser {
        username: "elise".into(),
        email: Some("Élise.Ünal@Example.nl".into()),
        given_name: "Élise".into(),
        family_name: "Ünal".into(),
        birth_date: None,
        password: Some(idp::domain::Secret::new(PASSWORD.into())),
        temporary_password: false,
    };
    idp::admin::create_user(&app.admin(), new, app.now()).await.unwrap();
    request_reset(&app, "élise.ünal@example.NL").await;
    assert_eq!(mails(&app).await.len(), 1);
}

#[tokio::test]
async fn the_request_form_carries_a_csrf_token_of_its_own_browser() {
    let app = TestApp::spawn().await;
    app.user("kees").await;
    // A page elsewhere posting the form (no token, or one from the attacker's own browser) sends
    // nothing; the person sees the form again with a fresh token and can simply send it.
    let victim = app.browser();
    let forged = victim.post_form("/wachtwoord-vergeten", &[("email", "kees@example.nl")]).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let page = to_page(forged).await;
    assert!(page.body.contains("Het formulier kon niet worden verstuurd"), "{}", page.body);
    assert_eq!(page.field("email"), "kees@example.nl", "what was typed is kept");
    let attacker = app.browser();
    let theirs = to_page(attacker.get("/wachtwoord-vergeten").await).await;
    let stolen =
        victim.post_form("/wachtwoord-vergeten", &[("email", "kees@example.nl"), ("csrf", theirs.field("csrf"))]).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(mails(&app).await.is_empty(), "no mail for a forged request");
    // The form as shown after the refusal works.
    let sent =
        victim.post_form("/wachtwoord-vergeten", &[("email", "kees@example.nl"), ("csrf", page.field("csrf"))]).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert_eq!(mails(&app).await.len(), 1);
}
