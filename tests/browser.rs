//! Journey A in a real browser: headless Chromium through WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs). This is where the page's script is tested: the
//! rules tick as they are met and the button stays disabled until all hold.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::TestApp;
use idp::activation::invite::{self, InviteRequest};
use idp::admin::{self, PolicyChange};

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
                     "--window-size=390,844", "--lang=nl-NL", format!("--user-data-dir={}", driver._profile.path().display())],
            // A Dutch phone: the pages must come in Dutch.
            "prefs": { "intl.accept_languages": "nl-NL,nl" },
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
    let change = PolicyChange {
        min_length: Some(8),
        require_upper: Some(true),
        require_lower: Some(true),
        require_digit: Some(true),
        ..PolicyChange::default()
    };
    admin::set_policy(app.state.store.as_ref(), &app.org, change, app.now()).await.unwrap();
    let request = InviteRequest {
        organisation: app.org.clone(),
        email: "fatima@example.nl".into(),
        given_name: "Fatima".into(),
        family_name: "El Amrani".into(),
        birth_date: None,
        client_number: None,
    };
    invite::invite(
        app.state.store.as_ref(),
        &app.state.mail_templates,
        &app.state.config,
        &app.issuer,
        request,
        app.now(),
    )
    .await
    .unwrap();
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
