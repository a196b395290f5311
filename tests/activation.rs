//! Journey A: invitation mail with a validation code → e-mail + code → username and password
//! under the organisation's rules → sign in at a portal.

use reqwest::StatusCode;

use crate::helpers::browser::{location, to_page};
use crate::helpers::{Mail, TestApp};
use idp::activation::invite::InviteRequest;
use idp::admin::PolicyChange;

/// Journey A's organisation (Regas): at least 8 characters with upper case, lower case and a digit.
async fn regas_policy(app: &TestApp) {
    app.set_policy(PolicyChange {
        activation_method: Some("invite-code".into()),
        min_length: Some(8),
        require_upper: Some(true),
        require_lower: Some(true),
        require_digit: Some(true),
        portal_url: Some("https://alpha.portal.example/".into()),
        mail_from_name: Some("Doras en PuurZuid".into()),
        ..PolicyChange::default()
    })
    .await;
}

async fn invite(app: &TestApp, email: &str) -> String {
    let request = InviteRequest {
        given_name: "Fatima".into(),
        family_name: "El Amrani".into(),
        birth_date: Some("12-05-1956".into()),
        client_number: Some("C-1001".into()),
        ..app.invitation(email)
    };
    app.invite(request).await.invitation.id
}

/// The validation code in the newest mail to `email`, as a person would read it.
fn code_from_mail(mail: &Mail) -> String {
    let line = mail.text.lines().find(|l| l.contains("Validatiecode:")).expect("the mail shows the code");
    line.split(':').nth(1).unwrap().trim().to_string()
}

async fn delivered(app: &TestApp) -> Vec<Mail> {
    app.state.deliver_mail().await.unwrap();
    app.mails()
}

/// Fills in e-mail and code; returns the response.
async fn validate(browser: &crate::helpers::Browser, email: &str, code: &str) -> reqwest::Response {
    browser.fill_in("/activeren", &[("email", email), ("code", code)]).await
}

#[tokio::test]
async fn journey_a_from_invitation_mail_to_portal_sign_in() {
    let app = TestApp::spawn().await;
    regas_policy(&app).await;
    let portal = app.alpha_portal().await;
    invite(&app, "fatima@example.nl").await;

    let mails = delivered(&app).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.subject, "Uitnodiging van Zorggroep Test: aanmelden Cliëntportaal");
    assert!(mail.to.contains("fatima@example.nl"));
    assert!(mail.text.contains(&format!("{}/activeren", app.issuer)), "link from the configured public URL");
    assert!(mail.text.contains("E-mailadres:    fatima@example.nl"));
    assert!(mail.html.contains("Account aanmaken"));
    let code = code_from_mail(mail);

    let browser = app.browser();
    let form = to_page(browser.get("/activeren").await).await;
    assert!(form.body.contains(r#"autocomplete="email""#) && form.body.contains(r#"autocomplete="one-time-code""#));
    assert!(form.body.contains("Valideren"));
    // Typed from the letter: lower case, with spaces.
    let typed = code
        .to_lowercase()
        .chars()
        .collect::<Vec<_>>()
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    let response = validate(&browser, " Fatima@Example.nl ", &typed).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let account_page = to_page(browser.get(&location(&response).unwrap()).await).await;
    assert_eq!(account_page.status, StatusCode::OK);
    for shown in ["Fatima", "El Amrani", "fatima@example.nl"] {
        assert!(account_page.body.contains(shown), "shows {shown}");
    }
    assert!(account_page.body.contains(r#"autocomplete="new-password""#));
    assert!(account_page.body.contains("minstens één hoofdletter"), "the organisation's rules are listed");

    let response = browser
        .post_form(
            "/activeren/account",
            &[
                ("activation", account_page.field("activation")),
                ("csrf", account_page.field("csrf")),
                ("username", "fatima56"),
                ("password", "Zonnebloem7"),
                ("password_repeat", "Zonnebloem7"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let done = response.text().await.unwrap();
    assert!(done.contains("Uw account is klaar") && done.contains("alpha.portal.example"), "{done}");

    // The code is spent.
    let again = validate(&app.browser(), "fatima@example.nl", &code).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);

    // And the new account signs in at the portal.
    let rp = app.rp(&portal).await;
    let start = rp.start(&[]);
    let tokens = rp.finish(&app.browser().sign_in(&start.url, "Fatima56", "Zonnebloem7").await, &start).await;
    let info = rp.userinfo(tokens.access_token()).await.unwrap();
    assert_eq!(info.email().unwrap().as_str(), "fatima@example.nl");
    assert_eq!(info.email_verified(), Some(true), "the code proved the address");
    assert_eq!(info.birthdate().unwrap().as_str(), "1956-05-12");
}

/// Goes through the code page and returns the account form.
async fn account_form(app: &TestApp, browser: &crate::helpers::Browser, email: &str) -> crate::helpers::browser::Page {
    let code = code_from_mail(delivered(app).await.last().unwrap());
    let response = validate(browser, email, &code).await;
    to_page(browser.get(&location(&response).unwrap()).await).await
}

#[tokio::test]
async fn each_password_rule_and_a_taken_username_get_their_own_message() {
    let app = TestApp::spawn().await;
    regas_policy(&app).await;
    app.user("Jan.Jansen").await;
    invite(&app, "fatima@example.nl").await;
    let browser = app.browser();
    let page = account_form(&app, &browser, "fatima@example.nl").await;
    let submit = |username: &'static str, password: &'static str, repeat: &'static str| {
        let (activation, csrf) = (page.field("activation").to_string(), page.field("csrf").to_string());
        let browser = &browser;
        async move {
            let r = browser
                .post_form(
                    "/activeren/account",
                    &[
                        ("activation", &activation),
                        ("csrf", &csrf),
                        ("username", username),
                        ("password", password),
                        ("password_repeat", repeat),
                    ],
                )
                .await;
            (r.status(), r.text().await.unwrap())
        }
    };
    for (password, message) in [
        ("Zon7", "te kort: gebruik minstens 8 tekens"),
        ("zonnebloem7", "geen hoofdletter"),
        ("ZONNEBLOEM7", "geen kleine letter"),
        ("Zonnebloem", "geen cijfer"),
        ("Wachtwoord1", "te vaak gebruikt"),
        ("Fatima1956x", "uw naam, gebruikersnaam of geboortedatum"),
    ] {
        let (status, body) = submit("fatima56", password, password).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}");
        assert!(body.contains(message), "{password}: {message}");
        assert!(body.contains(r#"value="fatima56""#), "the username is kept");
        assert!(!body.contains(password), "a password is never echoed");
    }
    let (_, body) = submit("fatima56", "Zonnebloem7", "Zonnebloem8").await;
    assert!(body.contains("De twee wachtwoorden zijn niet gelijk"));
    // Taken, differing only in case and Unicode form (full-width letters).
    for taken in ["jan.jansen", "ＪＡＮ.ＪＡＮＳＥＮ"] {
        let (status, body) = submit(taken, "Zonnebloem7", "Zonnebloem7").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("Deze gebruikersnaam is al in gebruik"), "{taken}");
    }
    // Nothing half-made: the invitation is still open and works with a free name.
    let (status, body) = submit("fatima56", "Zonnebloem7", "Zonnebloem7").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_look_alike_username_gets_a_message_saying_what_to_change() {
    let app = TestApp::spawn().await;
    regas_policy(&app).await;
    app.user("willem").await;
    invite(&app, "fatima@example.nl").await;
    let browser = app.browser();
    let page = account_form(&app, &browser, "fatima@example.nl").await;
    let submit = |language: &'static str, username: &'static str| {
        let (activation, csrf) = (page.field("activation").to_string(), page.field("csrf").to_string());
        let browser = &browser;
        async move {
            let form = [
                ("activation", activation.as_str()),
                ("csrf", csrf.as_str()),
                ("username", username),
                ("password", "Zonnebloem7"),
                ("password_repeat", "Zonnebloem7"),
            ];
            let r = browser.post_form_in(language, "/activeren/account", &form).await;
            (r.status(), r.text().await.unwrap())
        }
    };
    let look_alike = "Deze gebruikersnaam lijkt te veel op een bestaande naam. Kies een andere.";
    let invisible = "Deze gebruikersnaam bevat een onzichtbaar teken.";
    let mixed = "Deze gebruikersnaam heeft letters uit verschillende alfabetten";
    for (username, message) in [
        ("w\u{131}llem", look_alike),       // dotless ı
        ("wiIlem", look_alike),             // capital I for l
        ("wi1lem", look_alike),             // digit 1 for l
        ("wil\u{200B}lem", invisible),      // zero-width space
        ("wil\u{AD}lem", invisible),        // soft hyphen
        ("w\u{456}llem", mixed),            // Cyrillic і among Latin letters
        ("\u{430}nna.b\u{430}kker", mixed), // Cyrillic а among Latin letters
    ] {
        let (status, body) = submit("nl", username).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", username.escape_unicode());
        assert!(body.contains(message), "{}: {body}", username.escape_unicode());
        assert!(body.contains(&format!(r#"value="{username}""#)), "the username is kept to correct");
        assert!(body.contains("Fatima") && body.contains("El Amrani"), "the rest of the page stays");
        assert!(!body.contains("Zonnebloem7"), "a password is never echoed");
    }
    let (status, body) = submit("en", "w\u{131}llem").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("This username looks too much like an existing one. Choose another one."), "{body}");
    let (_, body) = submit("en", "wil\u{200B}lem").await;
    assert!(body.contains("This username contains an invisible character."), "{body}");

    // Nothing was stored; a name of its own works.
    let (status, body) = submit("nl", "willemijn").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn five_wrong_codes_lock_the_invitation_and_the_answer_never_says_which_field() {
    let app = TestApp::spawn().await;
    regas_policy(&app).await;
    let id = invite(&app, "fatima@example.nl").await;
    let code = code_from_mail(delivered(&app).await.last().unwrap());
    let browser = app.browser();
    let wrong_code = validate(&browser, "fatima@example.nl", "AAAAAAAAAA").await;
    let wrong_code_status = wrong_code.status();
    let wrong_code_body = wrong_code.text().await.unwrap();
    let wrong_email = validate(&browser, "someone@example.nl", &code).await;
    assert_eq!(wrong_email.status(), wrong_code_status);
    let wrong_email_body = wrong_email.text().await.unwrap();
    assert_eq!(
        wrong_email_body.replace("someone@example.nl", "ADDRESS"),
        wrong_code_body.replace("fatima@example.nl", "ADDRESS"),
        "same answer whichever field was wrong"
    );
    for _ in 0..4 {
        validate(&browser, "fatima@example.nl", "BBBBBBBBBB").await;
    }
    let locked = validate(&browser, "fatima@example.nl", &code).await;
    assert_eq!(locked.status(), StatusCode::UNAUTHORIZED, "the right code no longer works");
    assert_eq!(app.state.store.invitation_by_id(&id).await.unwrap().unwrap().failures, 5);

    // The caregiver sends a new invitation: it works, and the old code stays dead.
    invite(&app, "fatima@example.nl").await;
    let fresh = code_from_mail(delivered(&app).await.last().unwrap());
    assert_ne!(fresh, code);
    assert_eq!(validate(&app.browser(), "fatima@example.nl", &code).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(validate(&app.browser(), "fatima@example.nl", &fresh).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn parallel_wrong_codes_are_counted_exactly() {
    let app = TestApp::spawn().await;
    let id = invite(&app, "fatima@example.nl").await;
    let guesses = (0..12).map(|i| {
        let app = &app;
        async move {
            let browser = app.browser();
            validate(&browser, "fatima@example.nl", &format!("WRONG{i:05}")).await.status()
        }
    });
    futures::future::join_all(guesses).await;
    assert_eq!(app.state.store.invitation_by_id(&id).await.unwrap().unwrap().failures, 5, "never past the limit");
}

#[tokio::test]
async fn an_expired_invitation_is_refused() {
    let app = TestApp::spawn().await;
    invite(&app, "fatima@example.nl").await;
    let code = code_from_mail(delivered(&app).await.last().unwrap());
    app.clock.advance(14 * 86_400);
    assert_eq!(validate(&app.browser(), "fatima@example.nl", &code).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_input_gets_a_clear_message_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let response = validate(&browser, "not-an-address", "ABC").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(body.contains("Dit is geen geldig e-mailadres"));
    assert!(body.contains(r#"value="not-an-address""#));
    let response = validate(&browser, "fatima@example.nl", "").await;
    assert!(response.text().await.unwrap().contains("Vul uw e-mailadres en de validatiecode in"));
    let huge = "x".repeat(10_000);
    let response = validate(&browser, &huge, &huge).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    // Invalid UTF-8 in the form.
    let response = browser
        .http
        .post(app.url("/activeren"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"email=%FF%FE&code=x".to_vec())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    // Without the form's CSRF token (a page elsewhere posting it), or with another browser's: the
    // form again, with nothing checked.
    let forged = browser.post_form("/activeren", &[("email", "fatima@example.nl"), ("code", "ABC")]).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let page = to_page(forged).await;
    assert!(page.body.contains("Het formulier kon niet worden verstuurd"), "{}", page.body);
    let theirs = to_page(app.browser().get("/activeren").await).await;
    let stolen = browser
        .post_form("/activeren", &[("email", "fatima@example.nl"), ("code", "ABC"), ("csrf", theirs.field("csrf"))])
        .await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(stolen.text().await.unwrap().contains("Het formulier kon niet worden verstuurd"));
    // An account page without a validated invitation.
    assert_eq!(browser.get("/activeren/account?activation=forged").await.status(), StatusCode::BAD_REQUEST);
}

/// Organisation policies are kept in memory with the clients; a change by `idp-admin org policy`
/// is read again at the next cache refresh (every `cache.poll_interval_ms`).
#[tokio::test]
async fn a_policy_change_replaces_the_cached_policy_at_the_next_refresh() {
    let app = TestApp::spawn().await;
    let org = app.state.store.organisation_by_slug(&app.org).await.unwrap().unwrap();
    let min_length = async || app.state.policy(&org.id).await.unwrap().unwrap().password_rules.min_length;
    app.set_policy(PolicyChange { min_length: Some(12), ..PolicyChange::default() }).await;
    app.state.refresh_caches().await.unwrap();
    assert_eq!(min_length().await, 12, "read and kept");
    app.set_policy(PolicyChange { min_length: Some(14), ..PolicyChange::default() }).await;
    app.state.refresh_caches().await.unwrap();
    assert_eq!(min_length().await, 14, "read again after the change");
}
