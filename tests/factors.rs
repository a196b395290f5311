//! Second factors through the forms: an authenticator app enrolled at the first sign-in
//! (journey A), the mailed login token with "trust this computer" (journey B), recovery codes,
//! step-up by `acr_values` and by scope (journey C's dossier), and acr/amr in the ID token true
//! to what happened. TOTP codes are computed from the enrolled secret with the test's clock;
//! mailed codes are read from the mail transport.

use futures::future::join_all;
use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::helpers::browser::{location, query_param, to_page, Browser, Page};
use crate::helpers::rp::{AuthStart, Rp};
use crate::helpers::{Mail, Portal, TestApp, PASSWORD};
use idp::admin::{self, PolicyChange};
use idp::auth::{factors, totp};
use idp::ui::Locale;

const MFA: &str = "urn:poortwachter:acr:mfa";
const PASSWORD_ACR: &str = "urn:poortwachter:acr:password";

fn two_factors() -> PolicyChange {
    PolicyChange { min_level: Some("two-factor".into()), ..PolicyChange::default() }
}

/// Signs in with the password and returns where the IdP sends the browser next.
async fn password_step(browser: &Browser, authorize_url: &str, username: &str) -> String {
    let login = browser.follow(authorize_url).await.expect_err("the sign-in page");
    let response = browser.submit_login(&login, username, PASSWORD).await;
    assert!(response.status().is_redirection(), "password accepted: {}", response.status());
    location(&response).unwrap()
}

/// A browser at the second step of a sign-in to `portal`: the portal's relying party, the
/// browser, the authorization request and the page.
struct SecondStep {
    rp: Rp,
    browser: Browser,
    start: AuthStart,
    page: Page,
}

async fn at_second_step(app: &TestApp, portal: &Portal, username: &str) -> SecondStep {
    let rp = app.rp(portal).await;
    let browser = app.browser();
    let start = rp.start(&[]);
    let page = browser.follow(&password_step(&browser, &start.url, username).await).await.unwrap_err();
    SecondStep { rp, browser, start, page }
}

fn secret_on(page: &Page) -> Vec<u8> {
    let html = Html::parse_document(&page.body);
    let text: String =
        html.select(&Selector::parse("#secret").unwrap()).next().expect("the secret as text").text().collect();
    totp_rs::Secret::Encoded(text.replace(' ', "")).to_bytes().expect("base32")
}

async fn submit_code(browser: &Browser, page: &Page, method: &str, code: &str, trust: bool) -> reqwest::Response {
    let mut form = vec![
        ("interaction", page.field("interaction").to_string()),
        ("csrf", page.field("csrf").to_string()),
        ("method", method.to_string()),
        ("code", code.to_string()),
        ("action", "verify".to_string()),
    ];
    if trust {
        form.push(("trust", "yes".into()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_form("/tweede-stap", &form).await
}

/// Follows a response's redirects to the portal.
async fn to_portal(browser: &Browser, response: reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "expected a redirect, got {}", response.status());
    let to = location(&response).unwrap();
    if to.starts_with('/') {
        browser.follow(&to).await.expect("on to the portal")
    } else {
        to
    }
}

async fn delivered(app: &TestApp) -> Vec<Mail> {
    app.state.deliver_mail().await.unwrap();
    app.mails()
}

fn login_code(mails: &[Mail]) -> String {
    let mail = mails.iter().rev().find(|m| m.subject.starts_with("Uw inlogcode")).expect("a login-code mail");
    assert!(mail.text.contains("Heeft u niet geprobeerd in te loggen?"), "the mail says what to do if it wasn't you");
    mail.subject.rsplit(' ').next().unwrap().to_string()
}

fn amr(tokens: &crate::helpers::rp::Tokens) -> Vec<String> {
    tokens.claims.auth_method_refs().unwrap().iter().map(|m| m.to_string()).collect()
}

fn acr(tokens: &crate::helpers::rp::Tokens) -> String {
    tokens.claims.auth_context_ref().unwrap().to_string()
}

#[tokio::test]
async fn journey_a_enrols_an_app_at_the_first_sign_in_and_then_asks_its_code_once_per_step() {
    let app = TestApp::spawn().await;
    app.set_policy(two_factors()).await;
    let rp = app.alpha_rp().await;
    app.user("anna").await;
    let browser = app.browser();
    let start = rp.start(&[]);
    let next = password_step(&browser, &start.url, "anna").await;
    // Nothing to choose from: straight to enrolling an app, no code after the password alone.
    assert!(next.starts_with("/tweede-stap/app?interaction="), "{next}");
    let enrol = browser.follow(&next).await.unwrap_err();
    assert_eq!(enrol.status, StatusCode::OK);
    assert!(enrol.body.contains("<svg") && enrol.body.contains("Authenticator-app instellen"), "QR code inline");
    let secret = secret_on(&enrol);
    assert_eq!(secret.len(), 20, "160-bit secret");

    let wrong = browser
        .post_form(
            "/tweede-stap/app",
            &[("interaction", enrol.field("interaction")), ("csrf", enrol.field("csrf")), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("Deze code klopt niet"));
    let code = totp::code_at(&secret, app.now());
    let spaced = format!("{} {}\n", &code[..3], &code[3..]);
    let done = browser
        .post_form(
            "/tweede-stap/app",
            &[("interaction", enrol.field("interaction")), ("csrf", enrol.field("csrf")), ("code", &spaced)],
        )
        .await;
    let tokens = rp.finish(&to_portal(&browser, done).await, &start).await;
    assert_eq!(acr(&tokens), MFA);
    assert_eq!(amr(&tokens), vec!["pwd", "otp", "mfa"]);
    let sent = delivered(&app).await;
    assert!(sent.iter().any(|m| m.text.contains("er is een authenticator-app gekoppeld")), "the change is mailed");

    // The next sign-in asks the app's code, and the code used at enrolment does not work again.
    let other = app.browser();
    let start = rp.start(&[]);
    let next = password_step(&other, &start.url, "anna").await;
    let second = other.follow(&next).await.unwrap_err();
    assert!(second.body.contains("authenticator-app op uw telefoon"));
    let replay = submit_code(&other, &second, "totp", &code, false).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(replay.text().await.unwrap().contains("al gebruikt"));
    app.clock.advance(30);
    let fresh = submit_code(&other, &second, "totp", &totp::code_at(&secret, app.now()), false).await;
    let tokens = rp.finish(&to_portal(&other, fresh).await, &start).await;
    assert_eq!(acr(&tokens), MFA);
}

#[tokio::test]
async fn one_totp_code_signs_in_once_even_when_two_sign_ins_race() {
    let app = TestApp::spawn().await;
    app.set_policy(two_factors()).await;
    let rp = app.alpha_rp().await;
    let secret = app.user_with_app("anna").await;
    let (one, two) = (app.browser(), app.browser());
    let (s1, s2) = (rp.start(&[]), rp.start(&[]));
    let p1 = one.follow(&password_step(&one, &s1.url, "anna").await).await.unwrap_err();
    let p2 = two.follow(&password_step(&two, &s2.url, "anna").await).await.unwrap_err();
    let code = totp::code_at(&secret, app.now());
    let (r1, r2) =
        tokio::join!(submit_code(&one, &p1, "totp", &code, false), submit_code(&two, &p2, "totp", &code, false));
    let statuses = [r1.status(), r2.status()];
    assert_eq!(statuses.iter().filter(|s| s.is_redirection()).count(), 1, "exactly one wins: {statuses:?}");
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn parallel_wrong_codes_are_counted_exactly() {
    let app = TestApp::spawn().await;
    app.set_policy(two_factors()).await;
    let portal = app.alpha_portal().await;
    let secret = app.user_with_app("anna").await;
    let SecondStep { browser, page, .. } = at_second_step(&app, &portal, "anna").await;
    let right = totp::code_at(&secret, app.now());
    let wrong: Vec<String> =
        (0..12).map(|i| format!("{:06}", (right.parse::<u32>().unwrap() + 1 + i) % 1_000_000)).collect();
    let answers = join_all(wrong.iter().map(|code| submit_code(&browser, &page, "totp", code, false))).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 7, "{statuses:?}");
    // Paused: even the right code is not compared now.
    let paused = submit_code(&browser, &page, "totp", &right, false).await;
    assert_eq!(paused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(paused.text().await.unwrap().contains("Wacht 15 minuten"));
}

#[tokio::test]
async fn journey_b_mailed_token_trusts_the_computer_until_the_password_changes() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let portal = app.alpha_portal().await;
    app.user("piet").await;
    let SecondStep { rp, browser, start, page } = at_second_step(&app, &portal, "piet").await;
    assert!(page.body.contains("code van 6 letters"), "the mail method: {}", page.body);
    assert!(page.body.contains("Vertrouw deze computer voor een week"));
    let code = login_code(&delivered(&app).await);
    assert_eq!(code.len(), 6);
    // Typed in lower case with a space: normalised.
    let typed = format!("{} {}", code[..3].to_lowercase(), &code[3..]);
    let done = submit_code(&browser, &page, "mail", &typed, true).await;
    let tokens = rp.finish(&to_portal(&browser, done).await, &start).await;
    assert_eq!(acr(&tokens), MFA);
    assert_eq!(amr(&tokens), vec!["pwd", "email", "mfa"]);

    // A portal that asks for a fresh sign-in (prompt=login) gets a fresh token asked.
    let start = rp.start(&[("prompt", "login")]);
    let next = password_step(&browser, &start.url, "piet").await;
    assert!(next.starts_with("/tweede-stap"), "prompt=login: a remembered factor is not fresh ({next})");

    // The next day (the session is over), this computer skips the token; the ID token still
    // says a mailed code (the one that trusted the computer) was the second factor.
    app.clock.advance(20 * 3600);
    let start = rp.start(&[]);
    let next = password_step(&browser, &start.url, "piet").await;
    assert!(!next.starts_with("/tweede-stap"), "trusted: no second step ({next})");
    assert!(next.starts_with(&portal.redirect_uri), "straight back to the portal: {next}");
    let tokens = rp.finish(&next, &start).await;
    assert_eq!(acr(&tokens), MFA);
    assert_eq!(login_code(&delivered(&app).await), code, "no new token was mailed");
    // The audit log tells the typed code from the computer standing in for it.
    let records = app.state.store.audit_records_after(0, 1000).await.unwrap();
    let used = records.iter().filter(|r| r.event_type == "factor.used").count();
    assert_eq!(used, 1, "only the mailed code that was typed is a factor used");
    let last: serde_json::Value =
        serde_json::from_str(&records.iter().rev().find(|r| r.event_type == "signin.succeeded").unwrap().detail)
            .unwrap();
    assert_eq!(last["trusted_device"], serde_json::json!(["email"]));

    // The password is reset by mail: the device is revoked, and since the mailbox chose the
    // password, a mailed token cannot be the second factor any more.
    app.browser().fill_in("/wachtwoord-vergeten", &[("email", "piet@example.nl")]).await;
    app.state.settle().await;
    let link = delivered(&app)
        .await
        .iter()
        .rev()
        .find_map(|m| {
            m.text.lines().find(|l| l.contains("/wachtwoord-herstellen?token=")).map(|l| l.trim().to_string())
        })
        .unwrap();
    let token = query_param(&link, "token").unwrap();
    let new_password = "een heel nieuw wachtwoord";
    let reset = app
        .browser()
        .post_form(
            "/wachtwoord-herstellen",
            &[("token", &token), ("password", new_password), ("password_repeat", new_password)],
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    let account = app.state.store.account_by_username("piet").await.unwrap().unwrap();
    assert!(app.state.store.trusted_devices(&account.id, app.now()).await.unwrap().is_empty(), "devices revoked");
    let start = rp.start(&[]);
    let login = browser.follow(&start.url).await.unwrap_err();
    let response = browser.submit_login(&login, "piet", new_password).await;
    let next = location(&response).unwrap();
    assert!(next.starts_with("/tweede-stap"), "the trusted device no longer counts: {next}");
    let refused = to_page(browser.get(&next).await).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "mailbox + mailbox is not two factors");
    assert!(refused.body.contains("tweede inlogmethode nodig"));
}

#[tokio::test]
async fn a_mailed_token_works_once_and_dies_after_five_tries() {
    // The account's own pause (five wrong codes of any kind) is set higher here, to see the code's.
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |c| c.factors.max_failures = 20).await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let portal = app.alpha_portal().await;
    app.user("piet").await;
    let SecondStep { rp, browser, start, page } = at_second_step(&app, &portal, "piet").await;
    let code = login_code(&delivered(&app).await);
    for _ in 0..4 {
        let wrong = submit_code(&browser, &page, "mail", "AAAAAA", false).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let fifth = submit_code(&browser, &page, "mail", "AAAAAA", false).await;
    assert!(fifth.text().await.unwrap().contains("werkt niet meer"));
    let after = submit_code(&browser, &page, "mail", &code, false).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "void after five tries");
    assert!(after.text().await.unwrap().contains("Vraag een nieuwe code aan"));
    // A new code (resend) works, once.
    let resend = browser
        .post_form(
            "/tweede-stap",
            &[
                ("interaction", page.field("interaction")),
                ("csrf", page.field("csrf")),
                ("method", "mail"),
                ("action", "resend"),
            ],
        )
        .await;
    assert_eq!(resend.status(), StatusCode::OK);
    let fresh = login_code(&delivered(&app).await);
    assert_ne!(fresh, code);
    let done = submit_code(&browser, &page, "mail", &fresh, false).await;
    let tokens = rp.finish(&to_portal(&browser, done).await, &start).await;
    assert_eq!(amr(&tokens), vec!["pwd", "email", "mfa"]);
}

#[tokio::test]
async fn step_up_by_acr_values_and_by_scope_asks_a_factor_never_a_lower_level() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |c| {
        c.scope_levels.insert(
            "dossier".into(),
            idp::config::ScopeLevel { level: idp::auth::levels::Level::TwoFactor, max_age_secs: Some(900) },
        );
    })
    .await;
    let portal = app
        .portal_tweaked("dossier", |c| {
            c.name = "Dossier".into();
            c.scopes = "openid profile email dossier".into();
        })
        .await;
    let secret = app.user_with_app("carla").await;
    let rp = app.rp(&portal).await;
    let browser = app.browser();

    // The organisation asks only a password: that is what the first token says.
    let tokens = rp.sign_in(&browser, "carla").await;
    assert_eq!(acr(&tokens), PASSWORD_ACR);
    assert_eq!(amr(&tokens), vec!["pwd"]);
    let auth_time = tokens.claims.auth_time().unwrap();

    // prompt=none cannot step up: an error, not a weaker token.
    let silent = rp.start(&[("acr_values", MFA), ("prompt", "none")]);
    let callback = browser.follow(&silent.url).await.unwrap();
    assert_eq!(query_param(&callback, "error").as_deref(), Some("interaction_required"));

    // acr_values: the same session is asked for the app's code, not the password again.
    let start = rp.start(&[("acr_values", MFA)]);
    let next = browser.follow(&start.url).await.unwrap_err();
    assert!(next.body.contains("authenticator-app op uw telefoon"), "asked for a factor: {}", next.body);
    // Calling the next endpoints directly gets no code.
    let consent = browser
        .post_form(
            "/consent",
            &[("interaction", next.field("interaction")), ("csrf", next.field("csrf")), ("decision", "allow")],
        )
        .await;
    assert!(location(&consent).is_none_or(|l| query_param(&l, "code").is_none()), "no code without the factor");
    let done = submit_code(&browser, &next, "totp", &totp::code_at(&secret, app.now()), false).await;
    let tokens = rp.finish(&to_portal(&browser, done).await, &start).await;
    assert_eq!(acr(&tokens), MFA);
    assert_eq!(amr(&tokens), vec!["pwd", "otp", "mfa"]);
    assert_eq!(tokens.claims.auth_time().unwrap(), auth_time, "the sign-in itself did not change");

    // The dossier scope: two factors within 15 minutes. Now: fine without asking.
    let dossier = |rp: &crate::helpers::rp::Rp| {
        let mut start = rp.start(&[]);
        start.url = start.url.replace("scope=openid", "scope=openid+dossier");
        start
    };
    let start = dossier(&rp);
    let callback = browser.follow(&start.url).await.expect("no second step within 15 minutes");
    assert_eq!(acr(&rp.finish(&callback, &start).await), MFA);
    // Sixteen minutes later: the code is asked again (journey C's "every time").
    app.clock.advance(16 * 60);
    let start = dossier(&rp);
    let again = browser.follow(&start.url).await.unwrap_err();
    assert!(again.body.contains("authenticator-app op uw telefoon"));
    let done = submit_code(&browser, &again, "totp", &totp::code_at(&secret, app.now()), false).await;
    assert_eq!(acr(&rp.finish(&to_portal(&browser, done).await, &start).await), MFA);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_is_reported_by_mail() {
    let app = TestApp::spawn().await;
    app.set_policy(two_factors()).await;
    let rp = app.alpha_rp().await;
    app.user_with_app("anna").await;
    let account = app.state.store.account_by_username("anna").await.unwrap().unwrap();
    let codes = factors::new_recovery_codes(&app.state, &account, Locale::Nl, app.now()).await.unwrap();
    assert_eq!(codes.len(), 10);
    let browser = app.browser();
    let start = rp.start(&[]);
    let next = password_step(&browser, &start.url, "anna").await;
    let page = browser.follow(&format!("{next}&method=recovery")).await.unwrap_err();
    assert!(page.body.contains("herstelcodes die u heeft bewaard"));
    assert!(!page.body.contains("Vertrouw deze computer"), "a recovery code does not trust a computer");
    let done = submit_code(&browser, &page, "recovery", &codes[3].to_lowercase(), false).await;
    let tokens = rp.finish(&to_portal(&browser, done).await, &start).await;
    assert_eq!(amr(&tokens), vec!["pwd", "rec", "mfa"]);
    assert!(delivered(&app).await.iter().any(|m| m.text.contains("er is met een herstelcode ingelogd")));

    let start = rp.start(&[("prompt", "login")]);
    let next = password_step(&browser, &start.url, "anna").await;
    let page = browser.follow(&format!("{next}&method=recovery")).await.unwrap_err();
    let reused = submit_code(&browser, &page, "recovery", &codes[3], false).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED, "each code works once");
}

#[tokio::test]
async fn the_account_page_nudges_adds_an_app_makes_codes_and_asks_the_password_again_for_changes() {
    let app = TestApp::spawn().await;
    app.user("bert").await;
    let browser = app.browser();
    // Without a session the page asks to sign in, then comes back.
    let login = browser.follow("/account").await.unwrap_err();
    assert!(login.body.contains("Inloggen"));
    let back = browser.submit_login(&login, "bert", PASSWORD).await;
    assert_eq!(location(&back).as_deref(), Some("/account"));
    let page = browser.follow("/account").await.unwrap_err();
    assert!(page.body.contains("Privacy en beveiliging") && page.body.contains("Twee-factor-authenticatie instellen"));

    // Add an app: QR code, then the first code.
    let enrol = browser.follow("/account/app").await.unwrap_err();
    let secret = secret_on(&enrol);
    let added = browser
        .post_form(
            "/account/app",
            &[
                ("interaction", enrol.field("interaction")),
                ("csrf", enrol.field("csrf")),
                ("code", &totp::code_at(&secret, app.now())),
            ],
        )
        .await;
    let added = to_page(added).await;
    assert_eq!(added.status, StatusCode::OK);
    assert!(added.body.contains("De authenticator-app is gekoppeld") && !added.body.contains("instellen</a>"));
    assert!(delivered(&app).await.iter().any(|m| m.text.contains("authenticator-app gekoppeld")));

    // With a factor on the account, changes need that factor too, proved recently.
    let reauth = |to: String| {
        let (browser, app, secret) = (&browser, &app, secret.clone());
        async move {
            assert!(to.starts_with("/login?interaction="), "re-authentication first: {to}");
            let login = browser.follow(&to).await.unwrap_err();
            let next = location(&browser.submit_login(&login, "bert", PASSWORD).await).unwrap();
            let page = browser.follow(&next).await.unwrap_err();
            app.clock.advance(30);
            let back = submit_code(browser, &page, "totp", &totp::code_at(&secret, app.now()), false).await;
            location(&back).unwrap()
        }
    };
    // The app's first code was just proved: recovery codes right away, shown once.
    let made = to_page(browser.post_form("/account/herstelcodes", &[("csrf", added.field("csrf"))]).await).await;
    let html = Html::parse_document(&made.body);
    let codes: Vec<String> =
        html.select(&Selector::parse(".recovery code").unwrap()).map(|c| c.text().collect()).collect();
    assert_eq!(codes.len(), 10);
    let again = browser.follow("/account").await.unwrap_err();
    assert!(!again.body.contains(&codes[0]), "shown once");
    assert!(again.body.contains("nog 10 ongebruikte"));

    // A forged form is refused.
    let forged = browser.post_form("/account/herstelcodes", &[("csrf", "guess")]).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);

    // Eleven minutes after the code, a change asks both again.
    app.clock.advance(11 * 60);
    let account_id = app.state.store.account_by_username("bert").await.unwrap().map(|a| a.id).unwrap();
    let factor = app.state.store.factors(&account_id).await.unwrap().remove(0);
    let remove =
        browser.post_form("/account/verwijderen", &[("csrf", again.field("csrf")), ("factor", &factor.id)]).await;
    let to = location(&remove).unwrap();
    assert_eq!(app.state.store.factors(&account_id).await.unwrap().len(), 1, "nothing removed yet");
    assert_eq!(reauth(to).await, "/account");
    let fresh = browser.follow("/account").await.unwrap_err();
    let removed =
        browser.post_form("/account/verwijderen", &[("csrf", fresh.field("csrf")), ("factor", &factor.id)]).await;
    assert!(to_page(removed).await.body.contains("De inlogmethode is verwijderd"));
    assert!(app.state.store.factors(&account_id).await.unwrap().is_empty());
    assert!(delivered(&app).await.iter().any(|m| m.text.contains("authenticator-app is ontkoppeld")));
}

fn digits_in(text: &serde_json::Value) -> String {
    text["text"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect()
}

#[tokio::test]
async fn a_phone_is_verified_before_use_then_gets_sms_codes_and_landlines_get_calls() {
    // Four codes go out below; the send limit (3 per 15 minutes) has its own test.
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |c| c.factors.max_sends = 10).await;
    let rp = app.alpha_rp().await;
    app.user("carla").await;
    let browser = app.browser();
    let login = browser.follow("/account/telefoon").await.unwrap_err();
    let back = browser.submit_login(&login, "carla", PASSWORD).await;
    let form = browser.follow(&location(&back).unwrap()).await.unwrap_err();
    assert!(form.body.contains(r#"autocomplete="tel""#));

    let bad =
        to_page(browser.post_form("/account/telefoon", &[("csrf", form.field("csrf")), ("phone", "hallo 123")]).await)
            .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("06 12345678") && bad.field("phone") == "hallo 123", "an example, and the input kept");

    let sent = to_page(
        browser.post_form("/account/telefoon", &[("csrf", form.field("csrf")), ("phone", "06-1234 5678")]).await,
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let texts = app.texts();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0]["to"], "+31612345678");
    assert_eq!(texts[0]["channel"], "sms");
    let code = digits_in(&texts[0]);
    let confirm = |code: String| {
        let (browser, csrf, factor) = (&browser, sent.field("csrf").to_string(), sent.field("factor").to_string());
        async move {
            browser
                .post_form("/account/telefoon/bevestigen", &[("csrf", &csrf), ("factor", &factor), ("code", &code)])
                .await
        }
    };
    let wrong = confirm("000000".into()).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = to_page(confirm(code).await).await;
    assert!(ok.body.contains("Het telefoonnummer is toegevoegd"), "{}", ok.body);
    assert!(delivered(&app).await.iter().any(|m| m.text.contains("telefoonnummer toegevoegd")));

    // The organisation now requires two factors: the phone gets an SMS code at sign-in.
    app.set_policy(two_factors()).await;
    let other = app.browser();
    let start = rp.start(&[]);
    let page = other.follow(&password_step(&other, &start.url, "carla").await).await.unwrap_err();
    assert!(page.body.contains("We hebben een code gestuurd naar"), "{}", page.body);
    let code = digits_in(app.texts().last().unwrap());
    let done = submit_code(&other, &page, "phone", &format!(" {code}\n"), false).await;
    let tokens = rp.finish(&to_portal(&other, done).await, &start).await;
    assert_eq!(amr(&tokens), vec!["pwd", "sms", "mfa"]);

    // Now that the account has a factor, a password alone no longer changes factors: later on,
    // the page asks the password and a code first.
    app.clock.advance(11 * 60);
    let to = location(&browser.get("/account/telefoon").await).unwrap();
    assert!(to.starts_with("/login?interaction="), "a second factor first: {to}");
    let login = browser.follow(&to).await.unwrap_err();
    let second = browser.submit_login(&login, "carla", PASSWORD).await;
    let page = browser.follow(&location(&second).unwrap()).await.unwrap_err();
    let code = digits_in(app.texts().last().unwrap());
    let back = submit_code(&browser, &page, "phone", &code, false).await;
    assert_eq!(location(&back).as_deref(), Some("/account/telefoon"));

    // A landline gets a voice call that reads the code out.
    let form = browser.follow("/account/telefoon").await.unwrap_err();
    browser.post_form("/account/telefoon", &[("csrf", form.field("csrf")), ("phone", "020 123 4567")]).await;
    let call = app.texts().last().cloned().unwrap();
    assert_eq!(call["channel"], "voice");
    assert_eq!(call["to"], "+31201234567");
    assert!(call["text"].as_str().unwrap().contains(", "), "read out digit by digit");
}

#[tokio::test]
async fn an_operator_reset_removes_every_factor_and_the_next_sign_in_enrols_again() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let rp = app.alpha_rp().await;
    app.user_with_app("piet").await;
    let account = app.state.store.account_by_username("piet").await.unwrap().unwrap();
    factors::new_recovery_codes(&app.state, &account, Locale::Nl, app.now()).await.unwrap();
    let templates = &app.state.mail_templates;
    let temporary = Some(idp::domain::Secret::new("tijdelijk-wachtwoord-42".to_string()));
    admin::reset_factors(
        &app.admin(),
        idp::activation::Mailing { templates, config: &app.state.config, issuer: &app.issuer },
        "PIET",
        temporary,
        app.now(),
    )
    .await
    .unwrap();
    assert!(app.state.store.factors(&account.id).await.unwrap().is_empty());
    assert_eq!(app.state.store.recovery_codes_left(&account.id).await.unwrap(), 0);
    assert!(delivered(&app).await.iter().any(|m| m.subject == "Uw inlogmethoden zijn teruggezet"));
    // The old password no longer works (whoever set it must not keep it); the temporary one
    // leads to choosing an own password first.
    let browser = app.browser();
    let start = rp.start(&[]);
    let login = browser.follow(&start.url).await.unwrap_err();
    assert_eq!(browser.submit_login(&login, "piet", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let next = location(&browser.submit_login(&login, "piet", "tijdelijk-wachtwoord-42").await).unwrap();
    assert!(next.starts_with("/wachtwoord-wijzigen?interaction="), "an own password first: {next}");
}

#[tokio::test]
async fn sending_codes_is_throttled_per_account() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let portal = app.alpha_portal().await;
    app.user("piet").await;
    let SecondStep { browser, page, .. } = at_second_step(&app, &portal, "piet").await;
    let resend = || {
        let form = [
            ("interaction", page.field("interaction")),
            ("csrf", page.field("csrf")),
            ("method", "mail"),
            ("action", "resend"),
        ];
        let browser = &browser;
        async move { browser.post_form("/tweede-stap", &form).await }
    };
    assert_eq!(resend().await.status(), StatusCode::OK);
    assert_eq!(resend().await.status(), StatusCode::OK);
    let fourth = resend().await;
    assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(fourth.text().await.unwrap().contains("Wacht 15 minuten"));
    assert_eq!(delivered(&app).await.iter().filter(|m| m.subject.starts_with("Uw inlogcode")).count(), 3);
}

#[tokio::test]
async fn a_code_sent_for_one_account_never_counts_for_another_in_the_same_sign_in() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let rp = app.alpha_rp().await;
    app.user("anna").await;
    app.user("bert").await;
    let browser = app.browser();
    let start = rp.start(&[]);
    let login = browser.follow(&start.url).await.unwrap_err();
    // Anna (the attacker's own account) gets a code mailed for this sign-in…
    let next = location(&browser.submit_login(&login, "anna", PASSWORD).await).unwrap();
    let page = browser.follow(&next).await.unwrap_err();
    let annas = login_code(&delivered(&app).await);
    // …then Bert's password is used in the same interaction, and Anna's code is offered for him.
    let next = location(&browser.submit_login(&login, "bert", PASSWORD).await).unwrap();
    assert!(next.starts_with("/tweede-stap"));
    let refused = submit_code(&browser, &page, "mail", &annas, false).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "Anna's code is not Bert's second factor");
}

#[tokio::test]
async fn after_a_password_reset_by_mail_no_factor_can_be_added_with_the_password_alone() {
    let app = TestApp::spawn().await;
    app.user("kees").await;
    app.browser().fill_in("/wachtwoord-vergeten", &[("email", "kees@example.nl")]).await;
    app.state.settle().await;
    let link = delivered(&app)
        .await
        .iter()
        .find_map(|m| {
            m.text.lines().find(|l| l.contains("/wachtwoord-herstellen?token=")).map(|l| l.trim().to_string())
        })
        .unwrap();
    let token = query_param(&link, "token").unwrap();
    let new_password = "een heel nieuw wachtwoord";
    app.browser()
        .post_form(
            "/wachtwoord-herstellen",
            &[("token", &token), ("password", new_password), ("password_repeat", new_password)],
        )
        .await;
    let browser = app.browser();
    let login = browser.follow("/account/app").await.unwrap_err();
    let back = browser.submit_login(&login, "kees", new_password).await;
    let page = to_page(browser.get(&location(&back).unwrap()).await).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("via e-mail hersteld"), "whoever reads the mailbox must not add a factor");
    let account = app.state.store.account_by_username("kees").await.unwrap().unwrap();
    assert!(app.state.store.factors(&account.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_sign_in_waiting_at_the_second_step_dies_when_the_password_changes() {
    let app = TestApp::spawn().await;
    app.set_policy(two_factors()).await;
    let portal = app.alpha_portal().await;
    let secret = app.user_with_app("anna").await;
    let SecondStep { browser, page, .. } = at_second_step(&app, &portal, "anna").await;
    // Meanwhile the password is changed (by the person elsewhere, or an operator's reset).
    let account = app.state.store.account_by_username("anna").await.unwrap().unwrap();
    let hash = idp::auth::password::hash(idp::domain::Secret::new("een ander wachtwoord".into())).await.unwrap();
    app.state.store.change_password(&account.id, &hash, app.now()).await.unwrap();
    let late = submit_code(&browser, &page, "totp", &totp::code_at(&secret, app.now()), false).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST, "the old password's sign-in cannot finish");
    assert!(location(&late).is_none());
}

#[tokio::test]
async fn a_trusted_computer_is_listed_on_the_account_page_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let portal = app.alpha_portal().await;
    app.user("piet").await;
    let SecondStep { rp, browser, start, page } = at_second_step(&app, &portal, "piet").await;
    let code = login_code(&delivered(&app).await);
    rp.finish(&to_portal(&browser, submit_code(&browser, &page, "mail", &code, true).await).await, &start).await;

    let account = browser.follow("/account").await.unwrap_err();
    assert!(account.body.contains("Vertrouwde computers") && account.body.contains("Intrekken"));
    let device = account.field("device").to_string();
    let revoked = to_page(
        browser.post_form("/account/apparaat-intrekken", &[("csrf", account.field("csrf")), ("device", &device)]).await,
    )
    .await;
    assert!(revoked.body.contains("De computer wordt niet meer vertrouwd"), "{}", revoked.body);
    assert!(revoked.body.contains("Er zijn geen vertrouwde computers"));
    // Both are in the person's audit record, with the device.
    let records = app.state.store.audit_records_after(0, 1000).await.unwrap();
    let kinds: Vec<(&str, Option<&str>)> = records
        .iter()
        .filter(|r| r.event_type.starts_with("device."))
        .map(|r| (r.event_type.as_str(), r.object_id.as_deref()))
        .collect();
    assert_eq!(kinds, vec![("device.trusted", Some(device.as_str())), ("device.revoked", Some(device.as_str()))]);

    // The next day, this computer is asked for the token again.
    app.clock.advance(20 * 3600);
    let start = rp.start(&[]);
    assert!(password_step(&browser, &start.url, "piet").await.starts_with("/tweede-stap"));
}

#[tokio::test]
async fn codes_to_one_phone_number_are_throttled_across_accounts() {
    let app = TestApp::spawn().await;
    let mut csrf = Vec::new();
    let browsers = [app.browser(), app.browser()];
    for (name, browser) in ["anna", "bert"].iter().zip(&browsers) {
        app.user(name).await;
        let login = browser.follow("/account/telefoon").await.unwrap_err();
        let back = browser.submit_login(&login, name, PASSWORD).await;
        csrf.push(browser.follow(&location(&back).unwrap()).await.unwrap_err().field("csrf").to_string());
    }
    let add = |i: usize| {
        let (browser, csrf) = (&browsers[i], csrf[i].clone());
        async move { browser.post_form("/account/telefoon", &[("csrf", &csrf), ("phone", "06 12345678")]).await.status() }
    };
    assert_eq!(add(0).await, StatusCode::OK);
    assert_eq!(add(0).await, StatusCode::OK);
    assert_eq!(add(1).await, StatusCode::OK);
    // Bert has asked once, but the number has had three codes in this window.
    assert_eq!(add(1).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.texts().len(), 3);
}

#[tokio::test]
async fn the_second_step_speaks_english_when_the_portal_asks() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let rp = app.alpha_rp().await;
    app.user("piet").await;
    let browser = app.browser();
    let start = rp.start(&[("ui_locales", "en")]);
    let page = browser.follow(&password_step(&browser, &start.url, "piet").await).await.unwrap_err();
    assert!(page.body.contains(r#"<html lang="en">"#) && page.body.contains("Second step"));
    assert!(
        page.body.contains("Trust this computer for a week") && page.body.contains(r#"autocomplete="one-time-code""#)
    );
    let mail = delivered(&app).await.pop().unwrap();
    assert!(mail.subject.starts_with("Your sign-in code: "), "the mail follows the page's language");
    assert!(mail.text.contains("Didn't try to sign in?"));
}

/// An account activated from an invitation of the test organisation (so its own policy applies).
async fn invited_user(app: &TestApp, username: &str) {
    let invited = app.invite(app.invitation(&format!("{username}@example.nl"))).await;
    let hash = idp::auth::password::hash(idp::domain::Secret::new(PASSWORD.into())).await.unwrap();
    let name = idp::domain::Username::parse(username).unwrap();
    let account = idp::activation::account_for(&invited.invitation, &name, hash, false, app.now());
    let mut tx = app.state.store.begin().await.unwrap();
    assert!(tx.activate_with_account(&invited.invitation.id, &account, app.now()).await.unwrap());
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn where_the_mailed_token_is_the_second_factor_a_password_alone_cannot_add_an_app() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..PolicyChange::default() }).await;
    invited_user(&app, "piet").await;
    let browser = app.browser();
    let login = browser.follow("/account/app").await.unwrap_err();
    let next = location(&browser.submit_login(&login, "piet", PASSWORD).await).unwrap();
    // Signed in with the password only (the organisation's minimum); the change asks the token.
    let first = browser.follow(&next).await;
    let to = match first {
        Ok(to) => panic!("left the IdP: {to}"),
        Err(page) => page,
    };
    assert!(to.body.contains("code van 6 letters"), "the mailed token guards changes: {}", to.body);
    let code = login_code(&delivered(&app).await);
    let back = submit_code(&browser, &to, "mail", &code, false).await;
    assert_eq!(location(&back).as_deref(), Some("/account/app"));
    let enrol = browser.follow("/account/app").await.unwrap_err();
    assert!(enrol.body.contains("Authenticator-app instellen"));
}

#[tokio::test]
async fn tokens_do_not_count_a_mailed_token_where_the_portal_refuses_it() {
    let app = TestApp::spawn().await;
    app.set_policy(PolicyChange { mailed_token: Some(true), ..two_factors() }).await;
    let accepting = app.alpha_portal().await;
    // A portal of another organisation, which takes a password and no mailed tokens.
    let other = admin::create_organisation(&app.admin(), "streng", "Streng", app.now()).await.unwrap();
    let strict = app
        .portal_tweaked("streng", |c| {
            c.organisation = other.slug.clone();
            c.name = "Streng".into();
        })
        .await;
    admin::set_policy(&app.admin(), "streng", PolicyChange::default(), app.now()).await.unwrap();
    app.user("piet").await;
    let SecondStep { rp, browser, start, page } = at_second_step(&app, &accepting, "piet").await;
    let code = login_code(&delivered(&app).await);
    let tokens =
        rp.finish(&to_portal(&browser, submit_code(&browser, &page, "mail", &code, false).await).await, &start).await;
    assert_eq!(acr(&tokens), MFA);
    // The same session at the strict portal: signed in, but the mailed token does not count there.
    let rp = app.rp(&strict).await;
    let start = rp.start(&[]);
    let tokens = rp.finish(&browser.follow(&start.url).await.unwrap(), &start).await;
    assert_eq!(acr(&tokens), PASSWORD_ACR);
    assert_eq!(amr(&tokens), vec!["pwd"]);
}
