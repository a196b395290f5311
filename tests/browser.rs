//! Journey A in a real browser: headless Chromium through WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs). This is where the page's script is tested: the
//! rules tick as they are met and the button stays disabled until all hold.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{Backend, TestApp, PASSWORD};
use idp::activation::invite::InviteRequest;
use idp::admin::PolicyChange;

/// A chromedriver process on a free port, stopped on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser() -> (Driver, Client) {
    browser_with(390, true).await
}

/// A phone-sized browser `width` CSS pixels wide, with or without JavaScript.
async fn browser_with(width: u32, javascript: bool) -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} must be installed (apt-get install chromium chromium-driver): {e}"));
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver { child, port, _profile: profile };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                     format!("--window-size={width},844"), "--lang=nl-NL", format!("--user-data-dir={}", driver._profile.path().display())],
            // A Dutch phone: the pages must come in Dutch. 2 blocks the pages' scripts.
            "prefs": {
                "intl.accept_languages": "nl-NL,nl",
                "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 },
            },
        }),
    );
    // chromedriver needs a moment to listen; this is waiting for a process, not for time to pass.
    for _ in 0..100 {
        if let Ok(client) = ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
        {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn rule_met(client: &Client, rule: &str) -> bool {
    let item = client.find(Locator::Css(&format!("li[data-rule='{rule}']"))).await.unwrap();
    item.attr("class").await.unwrap().unwrap_or_default().contains("met")
}

async fn button_enabled(client: &Client) -> bool {
    client.find(Locator::Id("password-submit")).await.unwrap().is_enabled().await.unwrap()
}

#[tokio::test]
async fn journey_a_in_headless_chromium_on_a_phone_sized_screen() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange {
        min_length: Some(8),
        require_upper: Some(true),
        require_lower: Some(true),
        require_digit: Some(true),
        ..PolicyChange::default()
    })
    .await;
    app.invite(InviteRequest {
        given_name: "Fatima".into(),
        family_name: "El Amrani".into(),
        ..app.invitation("fatima@example.nl")
    })
    .await;
    app.state.deliver_mail().await.unwrap();
    let mail = app.mails().pop().unwrap();
    let code =
        mail.text.lines().find(|l| l.contains("Validatiecode:")).unwrap().split(':').nth(1).unwrap().trim().to_string();
    let link = mail.text.lines().find(|l| l.contains("/activeren")).unwrap().trim().to_string();

    let (_driver, client) = browser().await;
    client.goto(&link).await.unwrap();
    client
        .find(Locator::Css("input[autocomplete='email']"))
        .await
        .unwrap()
        .send_keys("fatima@example.nl")
        .await
        .unwrap();
    client
        .find(Locator::Css("input[autocomplete='one-time-code']"))
        .await
        .unwrap()
        .send_keys(&code.to_lowercase())
        .await
        .unwrap();
    client.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();

    client.wait().for_element(Locator::Id("password-form")).await.unwrap();
    let body = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(body.contains("Fatima") && body.contains("El Amrani") && body.contains("fatima@example.nl"), "{body}");
    assert!(!button_enabled(&client).await, "disabled until the rules hold");

    client.find(Locator::Css("input[autocomplete='username']")).await.unwrap().send_keys("fatima56").await.unwrap();
    let password = client.find(Locator::Id("password")).await.unwrap();
    password.send_keys("zonnebloem").await.unwrap();
    assert!(rule_met(&client, "min_length").await, "✓ length");
    assert!(rule_met(&client, "lower").await);
    assert!(!rule_met(&client, "upper").await && !rule_met(&client, "digit").await);
    assert!(!button_enabled(&client).await);
    password.clear().await.unwrap();
    password.send_keys("Zonnebloem7").await.unwrap();
    assert!(rule_met(&client, "upper").await && rule_met(&client, "digit").await);
    assert!(!button_enabled(&client).await, "the repeat is still empty");
    client.find(Locator::Id("password_repeat")).await.unwrap().send_keys("Zonnebloem7").await.unwrap();
    assert!(rule_met(&client, "match").await);
    assert!(button_enabled(&client).await, "all rules hold");
    client.find(Locator::Id("password-submit")).await.unwrap().click().await.unwrap();

    if client.wait().for_element(Locator::XPath("//h1[text()='Uw account is klaar']")).await.is_err() {
        panic!("the account is not made: {} {}", client.current_url().await.unwrap(), client.source().await.unwrap());
    }
    client.close().await.unwrap();
}

/// A WebDriver WebAuthn extension command (https://w3c.github.io/webauthn/#sctn-automation).
#[derive(Debug)]
struct WebAuthnCmd {
    method: axum::http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCmd {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/webauthn/{}", session_id.expect("a session"), self.path))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(|b| b.to_string()))
    }
}

async fn click_and_wait_for(client: &Client, button: &str, text: &str) {
    client.find(Locator::Id(button)).await.unwrap().click().await.unwrap();
    let xpath = format!("//*[contains(text(), '{text}')]");
    if client.wait().for_element(Locator::XPath(&xpath)).await.is_err() {
        panic!("no {text:?}: {} {}", client.current_url().await.unwrap(), client.source().await.unwrap());
    }
}

async fn sign_in_form(client: &Client, username: &str) {
    client
        .wait()
        .for_element(Locator::Css("input[autocomplete='username']"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[autocomplete='current-password']"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    client.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
}

#[tokio::test]
async fn a_passkey_is_added_on_the_account_page_and_then_signs_in_phishing_resistant() {
    // WebAuthn binds passkeys to a domain name: the IdP runs as http://localhost:<port>.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |c| {
        c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.server.public_url = Some(url::Url::parse(&format!("http://localhost:{port}")).unwrap());
    })
    .await;
    assert!(app.state.passkeys.is_some());
    let portal = app.alpha_portal().await;
    app.user("pia").await;
    let (_driver, client) = browser().await;
    let authenticator = client
        .issue_cmd(WebAuthnCmd {
            method: axum::http::Method::POST,
            path: "authenticator".into(),
            body: Some(json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                              "hasUserVerification": true, "isUserVerified": true})),
        })
        .await
        .expect("a virtual authenticator");
    assert!(authenticator.is_string());

    // Add a passkey: sign in first (the page asks), then the browser makes the credential.
    client.goto(&app.url("/account/passkey")).await.unwrap();
    sign_in_form(&client, "pia").await;
    client.wait().for_element(Locator::Id("passkey-submit")).await.unwrap();
    click_and_wait_for(&client, "passkey-submit", "De passkey is toegevoegd").await;
    let account = app.state.store.account_by_username("pia").await.unwrap().unwrap();
    let factors = app.state.store.factors(&account.id).await.unwrap();
    assert_eq!(factors.len(), 1);
    assert!(factors[0].confirmed_at.is_some() && factors[0].credential_id.is_some());
    app.state.deliver_mail().await.unwrap();
    assert!(app.mails().iter().any(|m| m.text.contains("er is een passkey toegevoegd")));

    // The organisation now requires phishing resistance: the portal's sign-in asks the passkey.
    app.set_policy(PolicyChange { min_level: Some("phishing-resistant".into()), ..PolicyChange::default() }).await;
    let rp = app.rp(&portal).await;
    let start = rp.start(&[("prompt", "login")]);
    client.goto(&start.url).await.unwrap();
    sign_in_form(&client, "pia").await;
    client.wait().for_element(Locator::Id("passkey-submit")).await.unwrap();
    client.find(Locator::Id("passkey-submit")).await.unwrap().click().await.unwrap();
    // The browser is sent to the portal (which does not exist here): read where it went.
    let mut callback = String::new();
    for _ in 0..100 {
        callback = client.current_url().await.unwrap().to_string();
        if callback.starts_with(&portal.redirect_uri) {
            break;
        }
        // Waiting for the browser to navigate, not for time to pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tokens = rp.finish(&callback, &start).await;
    assert_eq!(tokens.claims.auth_context_ref().unwrap().as_str(), "urn:poortwachter:acr:phishing-resistant");
    let amr: Vec<String> = tokens.claims.auth_method_refs().unwrap().iter().map(|m| m.to_string()).collect();
    assert_eq!(amr, vec!["pwd", "hwk", "mfa"]);
    client.close().await.unwrap();
}

/// How much wider than the window the page is (0: no sideways scrolling, WCAG 1.4.10).
async fn overflow(client: &Client) -> i64 {
    let width =
        client.execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![]).await.unwrap();
    width.as_i64().unwrap()
}

/// An account with realistic long data: a 30-character address as username and e-mail, a double
/// surname; its username.
async fn long_named_user(app: &TestApp) -> &'static str {
    let email = "f.elamrani-vandenberg@ziggo.nl";
    assert_eq!(email.len(), 30);
    idp::admin::create_user(
        &app.admin(),
        idp::admin::NewUser {
            username: email.into(),
            email: Some(email.into()),
            given_name: "Fatima".into(),
            family_name: "El Amrani-van den Berg".into(),
            birth_date: Some("1950-03-31".into()),
            password: Some(idp::domain::Secret::new(PASSWORD.into())),
            temporary_password: false,
        },
        app.now(),
    )
    .await
    .unwrap();
    email
}

#[tokio::test]
async fn the_activity_page_and_the_changed_forms_fit_a_small_phone_without_javascript() {
    let app = TestApp::spawn().await;
    let email = long_named_user(&app).await;
    for (width, javascript) in [(320, false), (360, false), (360, true)] {
        let (_driver, client) = browser_with(width, javascript).await;
        // A wrong password first, so the list has a refused sign-in too.
        client.goto(&app.url("/account/activiteit")).await.unwrap();
        client
            .wait()
            .for_element(Locator::Css("input[autocomplete='username']"))
            .await
            .unwrap()
            .send_keys(email)
            .await
            .unwrap();
        client
            .find(Locator::Css("input[autocomplete='current-password']"))
            .await
            .unwrap()
            .send_keys("fout")
            .await
            .unwrap();
        client.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
        // The refusal's own page, not the form it replaced, before the name is typed again.
        client.wait().for_element(Locator::XPath("//*[contains(text(), 'onjuist')]")).await.unwrap();
        client.find(Locator::Css("input[autocomplete='username']")).await.unwrap().clear().await.unwrap();
        sign_in_form(&client, email).await;
        if client.wait().for_element(Locator::XPath("//h1[text()='Activiteit']")).await.is_err() {
            panic!("no activity page: {} {}", client.current_url().await.unwrap(), client.source().await.unwrap());
        }
        let text = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(text.contains("U bent ingelogd") && text.contains("Inloggen mislukt"), "{text}");
        assert!(overflow(&client).await <= 0, "activity page at {width} px scrolls sideways");
        for path in ["/account", "/wachtwoord-vergeten", "/activeren"] {
            client.goto(&app.url(path)).await.unwrap();
            client.wait().for_element(Locator::Css("main")).await.unwrap();
            assert!(overflow(&client).await <= 0, "{path} at {width} px (javascript {javascript}) scrolls sideways");
        }
        // The changed forms still work without JavaScript: the CSRF token travels in the form.
        client.goto(&app.url("/wachtwoord-vergeten")).await.unwrap();
        client.wait().for_element(Locator::Css("input[type='email']")).await.unwrap().send_keys(email).await.unwrap();
        client.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
        // The answer's own text, not the form it replaced (whose elements go stale).
        let accepted = client
            .wait()
            .for_element(Locator::XPath("//*[contains(text(), 'Als dit e-mailadres bij ons bekend is')]"))
            .await;
        if accepted.is_err() {
            panic!("the form was not accepted: {}", client.source().await.unwrap());
        }
        client.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_busy_sign_in_page_fits_a_small_phone_without_javascript_and_keeps_the_name() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.signin.max_waiting_password_checks = 1).await;
    let email = long_named_user(&app).await;
    let rp = app.alpha_rp().await;
    // Every password check is taken (elsewhere): the sign-in is refused as busy.
    let _held = app.state.password_checks.try_admit().expect("room");
    for width in [320, 360] {
        let (_driver, client) = browser_with(width, false).await;
        client.goto(&rp.start(&[]).url).await.unwrap();
        sign_in_form(&client, email).await;
        let busy = client.wait().for_element(Locator::XPath("//*[contains(text(), 'erg druk')]")).await;
        if busy.is_err() {
            panic!("no busy page: {}", client.source().await.unwrap());
        }
        let kept = client.find(Locator::Css("input[autocomplete='username']")).await.unwrap();
        assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some(email), "the name is kept");
        assert!(overflow(&client).await <= 0, "the busy page at {width} px scrolls sideways");
        client.close().await.unwrap();
    }
}

/// "Namens wie wilt u inloggen?" and the account page's lists of representation, with long
/// names, on a small phone without JavaScript: no sideways scrolling, large buttons, and the
/// choice made with a plain form.
#[tokio::test]
async fn whose_portal_and_the_representation_lists_fit_a_small_phone_without_javascript() {
    use crate::representation::{care_client, grant_of, portal};
    let app = TestApp::spawn().await;
    let rp = portal(&app).await;
    let email = long_named_user(&app).await;
    care_client(&app, "C-100", "Fatima", Some(email)).await;
    let new = idp::representation::admin::NewCareClient {
        org: app.org.clone(),
        number: "C-200".into(),
        given_name: "Wilhelmina Johanna Theodora".into(),
        family_name: "van Oldenbarnevelt-Schimmelpenninck".into(),
        birth_date: Some("1938-11-02".into()),
        username: None,
    };
    let mother = idp::representation::admin::add_care_client(&app.admin(), new, app.now()).await.unwrap();
    let grant = grant_of(&app, "C-200", email, "messages,appointments,personal_data");
    idp::representation::admin::grant(&app.admin(), grant, app.now()).await.unwrap();
    for width in [320, 360] {
        let (_driver, client) = browser_with(width, false).await;
        let start = rp.start_scoped(&["messages"], &[]);
        client.goto(&start.url).await.unwrap();
        sign_in_form(&client, email).await;
        if client.wait().for_element(Locator::XPath("//h1[text()='Namens wie wilt u inloggen?']")).await.is_err() {
            panic!("no choice: {} {}", client.current_url().await.unwrap(), client.source().await.unwrap());
        }
        assert!(overflow(&client).await <= 0, "the choice at {width} px scrolls sideways");
        screenshot(&client, &format!("namens-{width}")).await;
        let buttons = client.find_all(Locator::Css("button.choice")).await.unwrap();
        assert_eq!(buttons.len(), 2);
        for button in &buttons {
            let (_, _, w, h) = button.rectangle().await.unwrap();
            assert!(w >= 24.0 && h >= 44.0, "a button of {w}×{h} px");
        }
        let text = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(text.contains("van Oldenbarnevelt-Schimmelpenninck") && text.contains("zoon of dochter"), "{text}");
        client.find(Locator::Css(&format!("button[value='{}']", mother.id))).await.unwrap().click().await.unwrap();
        // Back to the portal (whose host does not exist here): the code is in the address.
        let mut arrived = false;
        for _ in 0..50 {
            if client.current_url().await.unwrap().as_str().starts_with(&rp.portal.redirect_uri) {
                arrived = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(arrived, "not back at the portal: {}", client.current_url().await.unwrap());
        client.goto(&app.url("/account")).await.unwrap();
        client.wait().for_element(Locator::Id("by-me-title")).await.unwrap();
        assert!(overflow(&client).await <= 0, "the account page at {width} px scrolls sideways");
        client.execute("document.getElementById('for-me-title').scrollIntoView();", vec![]).await.unwrap();
        screenshot(&client, &format!("account-{width}")).await;
        // "Stoppen" asks first, on a page of its own that fits too.
        client
            .find(Locator::Css("a[href^='/account/vertegenwoordiging-beeindigen']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client.wait().for_element(Locator::XPath("//h1[text()='Weet u het zeker?']")).await.unwrap();
        assert!(overflow(&client).await <= 0, "the question at {width} px scrolls sideways");
        screenshot(&client, &format!("account-end-{width}")).await;
        client.close().await.unwrap();
    }
}

/// With `SCREENSHOTS=<folder>`, keeps a picture of the page, to look at.
async fn screenshot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("SCREENSHOTS") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}
