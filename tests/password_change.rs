//! A temporary password (journey B's login mail) must be replaced at the first sign-in; then
//! the person signs in with the new one ("Log in om verder te gaan").

use reqwest::StatusCode;

use crate::helpers::browser::{location, to_page};
use crate::helpers::{TestApp, PASSWORD};
use idp::admin::{self, NewUser};
use idp::domain::Secret;

#[tokio::test]
async fn a_temporary_password_is_replaced_before_the_portal_gets_a_code() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    let user = NewUser {
        username: "p.devries@example.nl".into(),
        email: Some("p.devries@example.nl".into()),
        given_name: "Piet".into(),
        family_name: "de Vries".into(),
        birth_date: Some("1948-11-02".into()),
        password: Some(Secret::new(PASSWORD.into())),
        temporary_password: true,
    };
    admin::create_user(&app.admin(), user, app.now()).await.unwrap();
    let browser = app.browser();
    let start = rp.start(&[]);
    let login = browser.follow(&start.url).await.unwrap_err();
    let response = browser.submit_login(&login, "p.devries@example.nl", PASSWORD).await;
    let to = location(&response).unwrap();
    assert!(to.starts_with("/wachtwoord-wijzigen?interaction="), "no code before the change: {to}");
    let page = to_page(browser.get(&to).await).await;
    assert!(page.body.contains("Kies uw eigen wachtwoord") && page.body.contains(r#"autocomplete="current-password""#));
    let submit = |current: &'static str, new: &'static str, repeat: &'static str| {
        let fields = (page.field("interaction").to_string(), page.field("csrf").to_string());
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/wachtwoord-wijzigen",
                    &[
                        ("interaction", &fields.0),
                        ("csrf", &fields.1),
                        ("current_password", current),
                        ("password", new),
                        ("password_repeat", repeat),
                    ],
                )
                .await
        }
    };
    let wrong = submit("not-it", "een eigen lange zin", "een eigen lange zin").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("Het huidige wachtwoord klopt niet"));
    let weak = submit(PASSWORD, "kort", "kort").await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert!(weak.text().await.unwrap().contains("te kort"));
    let same = submit(PASSWORD, PASSWORD, PASSWORD).await;
    assert!(same.text().await.unwrap().contains("Kies een ander wachtwoord dan het tijdelijke"));
    let personal = submit(PASSWORD, "piet 02111948 zomer", "piet 02111948 zomer").await;
    assert!(personal.text().await.unwrap().contains("geboortedatum"));

    let done = submit(PASSWORD, "een eigen lange zin", "een eigen lange zin").await;
    let back = location(&done).unwrap();
    assert!(back.starts_with("/login?interaction=") && back.ends_with("&changed=1"), "{back}");
    let login = to_page(browser.get(&back).await).await;
    assert!(login.body.contains("Log in om verder te gaan"));
    // The old password is gone; the new one completes the original authorization request.
    assert_eq!(browser.submit_login(&login, "p.devries@example.nl", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let response = browser.submit_login(&login, "p.devries@example.nl", "een eigen lange zin").await;
    let callback = location(&response).unwrap();
    rp.finish(&callback, &start).await;
}
