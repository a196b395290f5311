//! Journey B: activation link → birth date → a second mail with the portal address, login name
//! and a temporary password → sign in → choose an own password under the organisation's rules
//! (GGZ: at least 12 and one of ! % & @ # $ ^ * ? _ ~) → sign in again → the portal.

use reqwest::StatusCode;

use crate::helpers::browser::{location, to_page};
use crate::helpers::{Mail, TestApp};
use idp::activation::invite::InviteRequest;
use idp::admin::PolicyChange;

/// The GGZ organisation's policy, and Piet's invitation under it.
async fn ggz(app: &TestApp) {
    app.set_policy(PolicyChange {
        activation_method: Some("link-birthdate-temporary-password".into()),
        min_length: Some(12),
        required_specials: Some("!%&@#$^*?_~".into()),
        portal_url: Some("https://alpha.portal.example/".into()),
        secret_question: Some(true),
        ..PolicyChange::default()
    })
    .await;
    let request = InviteRequest {
        given_name: "Piet".into(),
        family_name: "de Vries".into(),
        birth_date: Some("02-11-1948".into()),
        ..app.invitation("p.devries@example.nl")
    };
    app.invite(request).await;
}

async fn mails(app: &TestApp) -> Vec<Mail> {
    app.state.deliver_mail().await.unwrap();
    app.mails()
}

fn line_after<'a>(mail: &'a Mail, label: &str) -> &'a str {
    mail.text.lines().find_map(|l| l.strip_prefix(label)).unwrap_or_else(|| panic!("{label} in {}", mail.text)).trim()
}

async fn birth_date(browser: &crate::helpers::Browser, token: &str, date: &str) -> (StatusCode, String) {
    let r = browser.post_form("/activeren/link", &[("token", token), ("birth_date", date)]).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn journey_b_from_activation_link_to_portal() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    ggz(&app).await;
    let first = mails(&app).await.pop().unwrap();
    assert_eq!(first.subject, "Account Cliëntenportaal aangemaakt");
    let link = first.text.lines().find(|l| l.contains("/activeren/link?token=")).unwrap().trim().to_string();
    let token = crate::helpers::browser::query_param(&link, "token").unwrap();

    let browser = app.browser();
    let page = to_page(browser.get(&link).await).await;
    assert!(page.body.contains(r#"autocomplete="bday""#) && page.body.contains("Activeren"));
    let (status, body) = birth_date(&browser, &token, "1948/11/02").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("bijvoorbeeld 31-03-1950") && body.contains(r#"value="1948&#x2F;11&#x2F;02""#), "input kept");
    let (status, body) = birth_date(&browser, &token, "03-11-1948").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("De geboortedatum klopt niet"));
    // The date picker's ISO form works as well as the Dutch one.
    let (status, body) = birth_date(&browser, &token, "1948-11-02").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("tweede e-mail"));
    assert_eq!(birth_date(&browser, &token, "1948-11-02").await.0, StatusCode::UNAUTHORIZED, "the link works once");

    let second = mails(&app).await.pop().unwrap();
    assert_eq!(second.subject, "Account Cliëntenportaal geactiveerd");
    assert!(second.text.contains("alpha.portal.example"));
    let login = line_after(&second, "Inlognaam:").to_string();
    let temporary = line_after(&second, "Wachtwoord:").to_string();
    assert_eq!(login, "p.devries@example.nl");

    let rp = app.rp(&portal).await;
    let start = rp.start(&[]);
    let form = browser.follow(&start.url).await.unwrap_err();
    let to = location(&browser.submit_login(&form, &login, &temporary).await).unwrap();
    let change = to_page(browser.get(&to).await).await;
    assert!(change.body.contains("minstens één van deze tekens"), "GGZ's rules apply");
    let submit = |new: &str| {
        let (i, c, t, n) = (
            change.field("interaction").to_string(),
            change.field("csrf").to_string(),
            temporary.clone(),
            new.to_string(),
        );
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/wachtwoord-wijzigen",
                    &[
                        ("interaction", &i),
                        ("csrf", &c),
                        ("current_password", &t),
                        ("password", &n),
                        ("password_repeat", &n),
                    ],
                )
                .await
        }
    };
    let no_special = submit("lange zin zonder teken").await;
    assert!(no_special.text().await.unwrap().contains("geen van deze tekens"));
    let done = submit("lange zin met ~ teken").await;
    // GGZ asks a secret question next; the (new) password is asked again.
    let question_url = location(&done).unwrap();
    assert!(question_url.starts_with("/geheime-vraag"), "{question_url}");
    // Skipping the question (straight back to the sign-in form) only leads back to it.
    let interaction = crate::helpers::browser::query_param(&format!("http://x{question_url}"), "interaction").unwrap();
    let skip = to_page(browser.get(&format!("/login?interaction={interaction}")).await).await;
    let to = location(&browser.submit_login(&skip, &login, "lange zin met ~ teken").await).unwrap();
    assert!(to.starts_with("/geheime-vraag"), "no code without the question: {to}");
    let question = to_page(browser.get(&question_url).await).await;
    let answer = |password: &'static str| {
        let (i, c) = (question.field("interaction").to_string(), question.field("csrf").to_string());
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/geheime-vraag",
                    &[
                        ("interaction", &i),
                        ("csrf", &c),
                        ("question", "Eerste huisdier?"),
                        ("answer", " Snuffie "),
                        ("password", password),
                    ],
                )
                .await
        }
    };
    let wrong = answer("lange zin zonder teken").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_body = wrong.text().await.unwrap();
    assert!(
        wrong_body.contains("Het wachtwoord klopt niet") && wrong_body.contains("Eerste huisdier?"),
        "question kept"
    );
    let saved = answer("lange zin met ~ teken").await;
    let back = location(&saved).unwrap();
    let again = to_page(browser.get(&back).await).await;
    assert!(again.body.contains("Log in om verder te gaan"));
    let callback = location(&browser.submit_login(&again, &login, "lange zin met ~ teken").await).unwrap();
    rp.finish(&callback, &start).await;
}

#[tokio::test]
async fn five_wrong_birth_dates_lock_the_link() {
    let app = TestApp::spawn().await;
    ggz(&app).await;
    let link = mails(&app).await.pop().unwrap().text.lines().find(|l| l.contains("token=")).unwrap().trim().to_string();
    let token = crate::helpers::browser::query_param(&link, "token").unwrap();
    let browser = app.browser();
    let wrong = (0..12).map(|i| {
        let (browser, token) = (&browser, token.clone());
        async move { birth_date(browser, &token, &format!("{:02}-01-1950", i + 1)).await.0 }
    });
    futures::future::join_all(wrong).await;
    assert_eq!(
        birth_date(&browser, &token, "02-11-1948").await.0,
        StatusCode::UNAUTHORIZED,
        "locked, even for the right date"
    );
    assert_eq!(browser.get(&link).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_address_that_cannot_be_a_login_name_is_refused_when_inviting() {
    let app = TestApp::spawn().await;
    ggz(&app).await;
    // A Cyrillic а among Latin letters: the activation could not make it the login name.
    let request = InviteRequest {
        organisation: app.org.clone(),
        email: "j\u{430}n@example.nl".into(),
        given_name: "Jan".into(),
        family_name: "Jansen".into(),
        birth_date: Some("02-11-1948".into()),
        client_number: None,
    };
    let mailing = idp::activation::Mailing {
        templates: &app.state.mail_templates,
        config: &app.state.config,
        issuer: &app.issuer,
    };
    let err = idp::activation::invite::invite(&app.admin(), mailing, request, app.now()).await.expect_err("refused");
    assert!(err.to_string().contains("cannot be a login name: it mixes letters of different scripts"), "{err}");
}
