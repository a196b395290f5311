//! The sign-in form: same answer for unknown users and wrong passwords, throttling, CSRF and
//! browser binding, the session cookie, consent.

use axum_extra::extract::cookie::{Cookie, SameSite};
use reqwest::StatusCode;

use crate::helpers::browser::{location, query_param, to_page, Browser, Page};
use crate::helpers::{Backend, TestApp, PASSWORD};

/// `n` different wrong passwords for `username`, all sent at once from `browser`; their statuses.
async fn guess_at_once(browser: &Browser, page: &Page, username: &str, n: usize) -> Vec<StatusCode> {
    let guesses =
        (0..n).map(|i| async move { browser.submit_login(page, username, &format!("guess-{i}")).await.status() });
    futures::future::join_all(guesses).await
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    let wrong = browser.submit_login(&page, "kees", "not-the-password").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = browser.submit_login(&page, "nobody", "not-the-password").await;
    assert_eq!(unknown.status(), wrong_status);
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    let unknown_body = unknown.text().await.unwrap();
    assert_eq!(unknown_body.replace("nobody", "USER"), wrong_body.replace("kees", "USER"));
    assert!(wrong_body.contains("Gebruikersnaam of wachtwoord is onjuist"));
    assert!(wrong_body.contains(r#"value="kees""#), "the username is kept");
    assert!(!wrong_body.contains("not-the-password"), "the password is not echoed");
}

#[tokio::test]
async fn failed_attempts_are_throttled_per_username_then_released() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    for _ in 0..5 {
        assert_eq!(browser.submit_login(&page, "Kees", "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is not checked now, in any spelling of the name.
    let blocked = browser.submit_login(&page, " KEES ", PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.text().await.unwrap().contains("Wacht 15 minuten"));
    app.clock.advance(15 * 60);
    let response = browser.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "released after the window");
}

#[tokio::test]
async fn parallel_guesses_are_counted_exactly() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    let statuses = guess_at_once(&browser, &page, "kees", 20).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    let refused = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!((checked, refused), (5, 15), "exactly the limit is checked");
}

#[tokio::test]
async fn failed_attempts_are_throttled_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.signin.max_failures_per_ip = 3).await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    // Successful sign-ins from one address (a care home's NAT) never count.
    for _ in 0..5 {
        let other = app.browser();
        rp.sign_in(&other, "kees").await;
    }
    for name in ["a", "b", "c"] {
        assert_eq!(browser.submit_login(&page, name, "x").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(browser.submit_login(&page, "kees", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_form_is_bound_to_the_browser_and_its_csrf_token() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    let bad_csrf = browser
        .post_form(
            "/login",
            &[
                ("interaction", page.field("interaction")),
                ("csrf", "forged"),
                ("username", "kees"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(bad_csrf.status(), StatusCode::BAD_REQUEST);
    // Another browser (an attacker who started the sign-in) cannot complete it in the victim's.
    let other = app.browser();
    let stolen = other.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(location(&stolen).is_none());
    // Missing fields: a clear message on the same page.
    let empty = browser.submit_login(&page, "kees", "").await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(empty.text().await.unwrap().contains("Vul uw gebruikersnaam en wachtwoord in"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_rotated_at_sign_in() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let page = browser.follow(&rp.start(&[("prompt", "login")]).url).await.unwrap_err();
        let response = browser.submit_login(&page, "kees", PASSWORD).await;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("pw_session="))
            .expect("a session cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
            "{cookie}"
        );
        cookies.push(cookie);
    }
    assert_ne!(cookies[0], cookies[1], "a new session value at every sign-in");
}

#[tokio::test]
async fn login_hint_fills_in_the_username() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    let page = app.browser().follow(&rp.start(&[("login_hint", "jan<b>")]).url).await.unwrap_err();
    assert_eq!(page.field("username"), "jan<b>");
    assert!(page.body.contains("jan&lt;b&gt;"), "escaped by the template engine");
}

#[tokio::test]
async fn prompt_consent_asks_and_a_refusal_is_access_denied() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let start = rp.start(&[("prompt", "consent")]);
    let login = browser.follow(&start.url).await.unwrap_err();
    let response = browser.submit_login(&login, "kees", PASSWORD).await;
    let consent_url = location(&response).unwrap();
    assert!(consent_url.starts_with("/consent"), "{consent_url}");
    let consent = to_page(browser.get(&consent_url).await).await;
    assert!(consent.body.contains("Portaal alpha") && consent.body.contains("uw e-mailadres"), "{}", consent.body);
    let denied = browser
        .post_form(
            "/consent",
            &[("interaction", consent.field("interaction")), ("csrf", consent.field("csrf")), ("decision", "deny")],
        )
        .await;
    let to = location(&denied).unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));

    // With a session, prompt=consent goes straight to the question; "allow" yields a code.
    let start = rp.start(&[("prompt", "consent")]);
    let consent = browser.follow(&start.url).await.unwrap_err();
    assert!(consent.body.contains("Toestaan"));
    let allowed = browser
        .post_form(
            "/consent",
            &[("interaction", consent.field("interaction")), ("csrf", consent.field("csrf")), ("decision", "allow")],
        )
        .await;
    rp.finish(&location(&allowed).unwrap(), &start).await;
}

/// A cookie set for a site served over https: `__Host-` prefixed (so no subdomain can set or
/// shadow it: Secure, Path=/, no Domain), HttpOnly and SameSite=Lax. Returns `name=value`.
fn assert_host_cookie(response: &reqwest::Response, name: &str) -> String {
    let headers: Vec<&str> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let raw =
        headers.iter().find(|h| h.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{name} in {headers:?}"));
    let cookie = Cookie::parse(*raw).unwrap();
    assert_eq!(cookie.secure(), Some(true), "Secure: {raw}");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly: {raw}");
    assert_eq!(cookie.same_site(), Some(SameSite::Lax), "SameSite=Lax: {raw}");
    assert_eq!(cookie.path(), Some("/"), "Path=/: {raw}");
    assert_eq!(cookie.domain(), None, "no Domain: {raw}");
    for header in &headers {
        let other = Cookie::parse(*header).unwrap();
        assert!(other.name().starts_with("__Host-") && other.secure() == Some(true), "every cookie: {header}");
    }
    format!("{}={}", cookie.name(), cookie.value())
}

#[tokio::test]
async fn over_https_cookies_are_secure_and_host_prefixed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.public_url = Some("https://login.zorg.example".parse().unwrap())
    })
    .await;
    assert_eq!(app.issuer, "https://login.zorg.example");
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    // The TLS proxy in front is left out: requests go to the listener, and cookies are carried
    // by hand (a cookie jar would rightly keep Secure cookies off plain http).
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let direct = |to: &str| {
        let path = to.strip_prefix(&app.issuer).unwrap_or(to);
        format!("http://127.0.0.1:{}{path}", app.port)
    };
    let (challenge, _verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let authorize = |extra: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &portal.client_id)
            .append_pair("redirect_uri", &portal.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .finish();
        direct(&format!("/authorize?{query}{extra}"))
    };

    let started = http.get(authorize("")).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let bind = assert_host_cookie(&started, "__Host-pw_bind");
    let form =
        to_page(http.get(direct(&location(&started).unwrap())).header("cookie", &bind).send().await.unwrap()).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let signed_in = http
        .post(direct("/login"))
        .header("cookie", &bind)
        .form(&[
            ("interaction", form.field("interaction")),
            ("csrf", form.field("csrf")),
            ("username", "kees"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session = assert_host_cookie(&signed_in, "__Host-pw_session");
    // The device cookie that keeps this browser's own allowance of wrong passwords, too.
    assert_host_cookie(&signed_in, "__Host-pw_known");
    // And it is the cookie the server reads: with it, prompt=none yields a code.
    let silent =
        http.get(authorize("&prompt=none")).header("cookie", format!("{bind}; {session}")).send().await.unwrap();
    let callback = location(&silent).unwrap();
    assert!(callback.starts_with(&portal.redirect_uri) && query_param(&callback, "code").is_some(), "{callback}");
}

/// The `Set-Cookie` value that sets `name`, if the response sets it.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// Signs in on `browser` through a fresh sign-in form (`prompt=login`); returns the form's answer.
async fn sign_in_again(browser: &crate::helpers::Browser, rp: &crate::helpers::Rp, password: &str) -> StatusCode {
    let page = browser.follow(&rp.start(&[("prompt", "login")]).url).await.unwrap_err();
    browser.submit_login(&page, "kees", password).await.status()
}

#[tokio::test]
async fn a_stranger_who_pauses_a_username_does_not_pause_the_owners_browser() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    app.user("piet").await;
    let rp = app.rp(&portal).await;
    // Kees signed in on his own browser before: it gets a long-lived device cookie.
    let owner = app.browser();
    let page = owner.follow(&rp.start(&[]).url).await.unwrap_err();
    let first = owner.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&first, "pw_known").expect("a device cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Path=/")
            && cookie.contains("Max-Age=15552000"),
        "{cookie}"
    );

    // Someone who knows the username pauses it from their own browser.
    let stranger = app.browser();
    let page = stranger.follow(&rp.start(&[]).url).await.unwrap_err();
    for _ in 0..5 {
        assert_eq!(stranger.submit_login(&page, "kees", "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(stranger.submit_login(&page, "kees", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // A browser that never signed in as kees is paused as well.
    let unknown = app.browser();
    let page = unknown.follow(&rp.start(&[]).url).await.unwrap_err();
    assert_eq!(unknown.submit_login(&page, "kees", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Kees's own browser still signs in, and that gives the stranger no new tries.
    let start = rp.start(&[("prompt", "login")]);
    let page = owner.follow(&start.url).await.unwrap_err();
    let response = owner.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    rp.finish(&location(&response).unwrap(), &start).await;
    let page = stranger.follow(&rp.start(&[]).url).await.unwrap_err();
    assert_eq!(stranger.submit_login(&page, "kees", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // The cookie counts only for the account it was earned for: piet, paused, stays paused there.
    for _ in 0..5 {
        assert_eq!(stranger.submit_login(&page, "piet", "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let page = owner.follow(&rp.start(&[("prompt", "login")]).url).await.unwrap_err();
    assert_eq!(owner.submit_login(&page, "piet", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_known_browser_that_guesses_is_paused_by_itself() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let known = app.browser();
    rp.sign_in(&known, "kees").await;
    let page = known.follow(&rp.start(&[("prompt", "login")]).url).await.unwrap_err();
    for _ in 0..5 {
        assert_eq!(known.submit_login(&page, "kees", "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = known.submit_login(&page, "kees", PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.text().await.unwrap().contains("Wacht 15 minuten"));
    // Its guesses were its own: the username's shared limit is untouched.
    rp.sign_in(&app.browser(), "kees").await;
    app.clock.advance(15 * 60);
    assert_eq!(sign_in_again(&known, &rp, PASSWORD).await, StatusCode::SEE_OTHER, "released after the window");
}

#[tokio::test]
async fn parallel_guesses_from_a_known_browser_are_counted_exactly() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let known = app.browser();
    rp.sign_in(&known, "kees").await;
    let page = known.follow(&rp.start(&[("prompt", "login")]).url).await.unwrap_err();
    let statuses = guess_at_once(&known, &page, "kees", 20).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert_eq!(checked, 5, "exactly the device's own limit is checked: {statuses:?}");
}

#[tokio::test]
async fn a_new_password_forgets_the_known_browsers() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let known = app.browser();
    rp.sign_in(&known, "kees").await;
    // The password changes (say, because someone else knew it).
    let account = app.state.store.account_by_username("kees").await.unwrap().unwrap();
    let hash = idp::auth::password::hash(idp::domain::Secret::new("paard batterij nietje".into())).await.unwrap();
    app.state.store.change_password(&account.id, &hash, app.now()).await.unwrap();
    // Whoever signed in with the old one is a stranger now: paused with everyone else.
    let stranger = app.browser();
    let page = stranger.follow(&rp.start(&[]).url).await.unwrap_err();
    for _ in 0..5 {
        assert_eq!(stranger.submit_login(&page, "kees", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sign_in_again(&known, &rp, "paard batterij nietje").await, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(15 * 60);
    assert_eq!(sign_in_again(&known, &rp, "paard batterij nietje").await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_accent_typed_composed_or_decomposed_is_the_same_password() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    let new = idp::admin::NewUser {
        username: "ren\u{e9}e".into(),
        email: None,
        given_name: "Renée".into(),
        family_name: "Dubois".into(),
        birth_date: None,
        // Set with é as one code point (U+00E9) ...
        password: Some(idp::domain::Secret::new("cr\u{e8}me br\u{fb}l\u{e9}e 7".into())),
        temporary_password: false,
    };
    idp::admin::create_user(&app.admin(), new, app.now()).await.unwrap();
    let rp = app.rp(&portal).await;
    // ... typed as e + U+0301 (and the username likewise) on another phone.
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "rene\u{301}e", "cre\u{300}me bru\u{302}le\u{301}e 7").await;
    rp.finish(&callback, &start).await;
    // The rest of the password still counts.
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    let wrong = browser.submit_login(&page, "ren\u{e9}e", "creme brulee 7").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

/// A password form sent twice at once (a double tap) makes one session and one code: the
/// interaction is claimed before the session is made, so the other submission makes none.
#[tokio::test]
async fn a_double_submitted_password_makes_one_session() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    let (a, b) =
        tokio::join!(browser.submit_login(&page, "kees", PASSWORD), browser.submit_login(&page, "kees", PASSWORD));
    let codes = [&a, &b].iter().filter(|r| location(r).is_some_and(|l| l.contains("code="))).count();
    assert_eq!(codes, 1, "one code: {} {}", a.status(), b.status());
    let records = app.state.store.audit_records_after(0, 1000).await.unwrap();
    let sign_ins = records.iter().filter(|r| r.event_type == "signin.succeeded").count();
    assert_eq!(sign_ins, 1, "one session made and recorded");
}

#[tokio::test]
async fn when_every_password_check_is_taken_a_sign_in_is_refused_at_once_and_counts_for_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.signin.max_waiting_password_checks = 2).await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    // Two sign-ins (elsewhere) are waiting for their hash: the queue is full.
    let held: Vec<_> = (0..2).map(|_| app.state.password_checks.try_admit().expect("room")).collect();
    assert!(app.state.password_checks.try_admit().is_none());
    for _ in 0..8 {
        let busy = browser.submit_login(&page, "kees", "wrong").await;
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        let body = busy.text().await.unwrap();
        assert!(body.contains("erg druk"), "{body}");
        assert!(body.contains("telt niet als poging"));
        assert!(body.contains(r#"value="kees""#), "the username is kept");
    }
    drop(held);
    // None of the eight counted: five wrong passwords are still allowed before the pause.
    for _ in 0..5 {
        assert_eq!(browser.submit_login(&page, "kees", "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(browser.submit_login(&page, "kees", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_beyond_capacity_is_counted_exactly_and_leaves_others_alone() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.signin.max_waiting_password_checks = 3;
        c.signin.max_failures_per_ip = 1000;
    })
    .await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    app.user("anna").await;
    let browser = app.browser();
    let page = browser.follow(&rp.start(&[]).url).await.unwrap_err();
    let statuses = guess_at_once(&browser, &page, "kees", 40).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    let paused = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    let busy = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(checked + paused + busy, 40, "{statuses:?}");
    assert!(checked <= 5, "never more than the limit checked: {statuses:?}");
    // However the flood was split, exactly the limit is counted: the sixth checked attempt is paused.
    let mut extra = 0;
    while browser.submit_login(&page, "kees", "again-wrong").await.status() == StatusCode::UNAUTHORIZED {
        extra += 1;
        assert!(checked + extra <= 5, "more than the limit were checked");
    }
    assert_eq!(checked + extra, 5);
    // Someone else signs in as usual meanwhile.
    let other = app.browser();
    let other_page = other.follow(&rp.start(&[]).url).await.unwrap_err();
    assert_eq!(other.submit_login(&other_page, "anna", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}
