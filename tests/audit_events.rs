//! What the audit log records while people and portals use the IdP (NEN 7513, docs/audit.md):
//! each change writes its record in its own transaction, names who acted, for whom, from which
//! address and through which portal; and a change whose record cannot be written is not made,
//! by a person or by an operator (`idp::admin`).

use reqwest::StatusCode;

use crate::helpers::browser::{location, to_page};
use crate::helpers::{Backend, Portal, TestApp, PASSWORD};
use idp::admin::{self, NewClient, NewUser, PolicyChange};
use idp::audit::verify::verify;
use idp::oidc::tokens::verify_access_token;
use idp::store::{AuditRecord, Cached, ClientKind, PkcePolicy, SigningAlg};

/// Every record, oldest first.
async fn records(app: &TestApp) -> Vec<AuditRecord> {
    app.state.store.audit_records_after(0, 10_000).await.unwrap()
}

/// The records of one event type.
async fn of(app: &TestApp, kind: &str) -> Vec<AuditRecord> {
    records(app).await.into_iter().filter(|r| r.event_type == kind).collect()
}

fn detail(record: &AuditRecord) -> serde_json::Value {
    serde_json::from_str(&record.detail).unwrap()
}

async fn a_portal_session_is_recorded_step_by_step(app: TestApp) {
    let portal = app.alpha_portal().await;
    app.user("Jan.Jansen").await;
    let account = app.state.store.account_by_username("jan.jansen").await.unwrap().unwrap();
    let rp = app.rp(&portal).await;
    let browser = app.browser();

    // A wrong password: a failure, by the account it was for, from the browser's address.
    let start = rp.start(&[]);
    let page = browser.follow(&start.url).await.expect_err("the sign-in page");
    let refused = browser.submit_login(&page, "jan.jansen", "not the password").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let failed = of(&app, "signin.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].outcome, "failure");
    assert_eq!(failed[0].actor_id.as_deref(), Some(account.id.as_str()));
    assert_eq!(failed[0].client_address.as_deref(), Some("127.0.0.1"));
    assert!(!failed[0].detail.contains("not the password"), "no secret in a record");

    // An unknown name is recorded without the name (people type passwords there).
    let unknown = browser.submit_login(&page, "Geheim-Wachtwoord-1", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let failed = of(&app, "signin.failed").await;
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[1].actor_id, None);
    assert!(!serde_json::to_string(&failed[1]).unwrap().contains("Geheim"), "the typed name is not kept");

    // Signed in at the portal: the sign-in names the portal and the level reached.
    let callback = browser.sign_in(&start.url, "jan.jansen", PASSWORD).await;
    let signed_in = of(&app, "signin.succeeded").await;
    assert_eq!(signed_in.len(), 1);
    let s = &signed_in[0];
    assert_eq!(
        (s.actor_id.as_deref(), s.subject_id.as_deref()),
        (Some(account.id.as_str()), Some(account.id.as_str()))
    );
    assert_eq!(s.actor_name.as_deref(), Some("Jan Jansen"));
    assert_eq!(s.client_id.as_deref(), Some(portal.client_id.as_str()));
    assert_eq!(s.client_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(s.action, "E");
    assert_eq!(detail(s)["acr"], "urn:poortwachter:acr:password");

    // The portal redeems the code: tokens issued to that portal for this person.
    let tokens = rp.finish(&callback, &start).await;
    let issued = of(&app, "token.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].client_id.as_deref(), Some(portal.client_id.as_str()));
    // The portal's back-channel request: its address is not the person's, so none is recorded.
    assert_eq!(issued[0].client_address, None);
    assert_eq!(issued[0].subject_id.as_deref(), Some(account.id.as_str()));
    assert_eq!(issued[0].object_type.as_deref(), Some("grant"));
    assert_eq!(detail(&issued[0])["scope"], "openid profile email");
    assert_eq!(issued[0].client_address, None, "the portal's server address is not the person's");
    let grant = issued[0].object_id.clone();

    let refreshed = rp.refresh(&tokens.refresh_token()).await.expect("refresh");
    let refreshes = of(&app, "token.refreshed").await;
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].object_id, grant, "the same token family");

    // The portal revokes what it holds: recorded as the portal's act, for the person.
    use openidconnect::OAuth2TokenResponse;
    let rotated = refreshed.refresh_token().unwrap().secret().clone();
    let revoke = rp
        .http
        .post(format!("{}/revoke", app.issuer))
        .basic_auth(&portal.client_id, portal.secret.as_ref())
        .form(&[("token", rotated.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let revoked = of(&app, "token.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor_role, "portal");
    assert_eq!(revoked[0].subject_id.as_deref(), Some(account.id.as_str()));
    assert_eq!(revoked[0].object_id, grant);

    // Signing out at the portal ends the session, recorded for the person.
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &tokens.id_token);
    let out = browser.get(url.as_str()).await;
    assert!(out.status().is_success() || out.status().is_redirection(), "{}", out.status());
    let ended = of(&app, "session.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].subject_id.as_deref(), Some(account.id.as_str()));
    assert_eq!(ended[0].object_id.as_deref(), Some(s.object_id.as_deref().unwrap()), "the session signed in");

    // All of it forms one unbroken chain.
    let verified = verify(app.state.store.as_ref(), &app.state.audit, None).await.unwrap().expect("an intact chain");
    assert_eq!(verified.records as usize, records(&app).await.len());
    assert!(records(&app).await.windows(2).all(|w| w[1].prev_hash == w[0].hash));
}

#[tokio::test]
async fn a_portal_session_is_recorded_on_sqlite() {
    a_portal_session_is_recorded_step_by_step(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_portal_session_is_recorded_on_postgres() {
    a_portal_session_is_recorded_step_by_step(TestApp::spawn_with(Backend::Postgres, |_| {}).await).await;
}

/// Makes every new audit record fail to be written, as a full disk or a broken table would.
async fn refuse_audit_records(app: &TestApp, backend: Backend) {
    let url = app.state.config.database.url.expose().clone();
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .execute(&pool)
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query("ALTER TABLE audit_events ADD CONSTRAINT refuse CHECK (seq < 0) NOT VALID")
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

async fn without_its_record_no_change_is_made(backend: Backend) {
    let app = match backend {
        Backend::Sqlite => TestApp::spawn().await,
        Backend::Postgres => TestApp::spawn_with(Backend::Postgres, |_| {}).await,
    };
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let account = app.state.store.account_by_username("kees").await.unwrap().unwrap();
    let browser = app.browser();
    let start = rp.start(&[]);
    let page = browser.follow(&start.url).await.expect_err("the sign-in page");
    let before = records(&app).await.len();
    let of_kees = app.state.store.audit_records_of(&[account.id.as_str()], &[], 10).await.unwrap().len();
    refuse_audit_records(&app, backend).await;

    // The right password, but the sign-in cannot be recorded: no session, no code, a calm error page.
    let response = browser.submit_login(&page, "kees", PASSWORD).await;
    assert!(location(&response).is_none_or(|l| !l.contains("code=")), "no code without a record");
    let page = to_page(response).await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!page.body.contains("refused"), "the database's message stays in the log");
    let start_again = rp.start(&[("prompt", "none")]);
    let silent = browser.get(&start_again.url).await;
    let to = location(&silent).unwrap();
    assert!(to.contains("error=login_required"), "no session was made: {to}");
    assert_eq!(records(&app).await.len(), before);
    assert_eq!(app.state.store.audit_records_of(&[account.id.as_str()], &[], 10).await.unwrap().len(), of_kees);
}

#[tokio::test]
async fn without_its_record_no_change_is_made_on_sqlite() {
    without_its_record_no_change_is_made(Backend::Sqlite).await;
}

#[tokio::test]
async fn without_its_record_no_change_is_made_on_postgres() {
    without_its_record_no_change_is_made(Backend::Postgres).await;
}

/// What the operator's commands have changed, as far as a test can see it.
async fn administered(app: &TestApp) -> String {
    let store = app.state.store.as_ref();
    let orgs: Vec<String> = store.list_organisations().await.unwrap().into_iter().map(|o| o.slug).collect();
    let clients: Vec<String> =
        store.list_clients().await.unwrap().into_iter().map(|c| format!("{} {}", c.id, c.pkce.as_str())).collect();
    let accounts: Vec<String> = store.list_accounts().await.unwrap().into_iter().map(|a| a.username).collect();
    let keys: Vec<String> =
        store.list_keys().await.unwrap().into_iter().map(|k| format!("{} {:?}", k.kid, k.publish_until)).collect();
    let org = store.organisation_by_slug(&app.org).await.unwrap().unwrap();
    let policy = store.policy(&org.id).await.unwrap().map(|p| p.password_rules.min_length);
    let clients_generation = store.generation(Cached::Clients).await.unwrap();
    let keys_generation = store.generation(Cached::Keys).await.unwrap();
    format!("{orgs:?} {clients:?} {accounts:?} {keys:?} {policy:?} {clients_generation} {keys_generation}")
}

/// `idp-admin`'s changes (docs/audit.md "admin.command"): with audit records refused, each
/// command fails, saying so, and changes nothing, not even the generation that tells running
/// servers to reload.
async fn without_its_record_no_admin_command_changes_anything(backend: Backend) {
    let app = match backend {
        Backend::Sqlite => TestApp::spawn().await,
        Backend::Postgres => TestApp::spawn_with(Backend::Postgres, |_| {}).await,
    };
    let portal = app.alpha_portal().await;
    let before = administered(&app).await;
    let count = records(&app).await.len();
    refuse_audit_records(&app, backend).await;

    let admin = app.admin();
    let unrecorded = |e: &dyn std::fmt::Display| e.to_string().contains("audit record could not be written");
    let new_client = NewClient {
        organisation: app.org.clone(),
        name: "Nieuw portaal".into(),
        redirect_uris: vec!["https://nieuw.portal.example/callback".into()],
        post_logout_redirect_uris: vec![],
        kind: ClientKind::Confidential,
        machine: false,
        scopes: "openid profile".into(),
        id_token_alg: SigningAlg::ES256,
        pkce: PkcePolicy::Required,
        backchannel_logout_uri: None,
    };
    let err = admin::create_client(&admin, new_client, app.now()).await.expect_err("client create");
    assert!(unrecorded(&err), "{err}");
    let err = admin::set_client_pkce(&admin, &portal.client_id, PkcePolicy::Optional, app.now()).await.unwrap_err();
    assert!(unrecorded(&err), "{err}");
    let err = admin::create_organisation(&admin, "nieuw", "Nieuw", app.now()).await.unwrap_err();
    assert!(unrecorded(&err), "{err}");
    let new_user = NewUser {
        username: "nieuw".into(),
        email: None,
        given_name: "Nieuw".into(),
        family_name: "Mens".into(),
        birth_date: None,
        password: None,
        temporary_password: false,
    };
    let err = admin::create_user(&admin, new_user, app.now()).await.unwrap_err();
    assert!(unrecorded(&err), "{err}");
    let change = PolicyChange { min_length: Some(14), ..PolicyChange::default() };
    let err = admin::set_policy(&admin, &app.org, change, app.now()).await.unwrap_err();
    assert!(unrecorded(&err), "{err}");
    let err = admin::rotate_keys(&admin, &app.state.config, app.now()).await.unwrap_err();
    assert!(unrecorded(&err), "{err}");

    assert_eq!(administered(&app).await, before, "nothing changed");
    assert_eq!(records(&app).await.len(), count);
}

#[tokio::test]
async fn without_its_record_no_admin_command_changes_anything_on_sqlite() {
    without_its_record_no_admin_command_changes_anything(Backend::Sqlite).await;
}

#[tokio::test]
async fn without_its_record_no_admin_command_changes_anything_on_postgres() {
    without_its_record_no_admin_command_changes_anything(Backend::Postgres).await;
}

#[tokio::test]
async fn the_account_page_shows_the_persons_own_activity() {
    let app = TestApp::spawn().await;
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    app.user("anna").await;
    let kees = app.state.store.account_by_username("kees").await.unwrap().unwrap();
    let rp = app.rp(&portal).await;

    // Someone tries a wrong password for Kees; Anna signs in elsewhere.
    let stranger = app.browser();
    let start = rp.start(&[]);
    let page = stranger.follow(&start.url).await.expect_err("the sign-in page");
    stranger.submit_login(&page, "kees", "raden-maar").await;
    rp.sign_in(&app.browser(), "anna").await;
    // Kees signs in at the portal, which receives his tokens.
    let browser = app.browser();
    rp.sign_in(&browser, "kees").await;

    let page = browser.follow("/account").await.expect_err("the account page");
    assert!(page.body.contains("/account/activiteit"), "the account page links to the activity");
    let page = browser.follow("/account/activiteit").await.expect_err("the activity page");
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    for text in ["Activiteit", "U bent ingelogd", "Inloggen mislukt: verkeerd wachtwoord", "Een portaal kreeg toegang"]
    {
        assert!(body.contains(text), "{text} in {body}");
    }
    assert!(body.contains("via Portaal alpha"), "names the portal");
    assert!(body.contains("vanaf 127.0.0.1"), "names the address");
    // Newest first: the tokens came after the sign-in, which came after the wrong password.
    let at = |t: &str| body.find(t).unwrap();
    assert!(at("Een portaal kreeg toegang") < at("U bent ingelogd"));
    assert!(at("U bent ingelogd") < at("Inloggen mislukt"));
    // Only Kees's own records: Anna's sign-in is one more "U bent ingelogd" that must not show.
    assert_eq!(body.matches("U bent ingelogd").count(), 1, "another person's sign-in is not listed");
    assert!(!body.contains("raden-maar"));

    // The look is itself recorded, and not listed the next time.
    let reads = of(&app, "audit.read").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].actor_id.as_deref(), Some(kees.id.as_str()));
    let again = browser.follow("/account/activiteit").await.expect_err("the activity page");
    assert!(!again.body.contains("audit.read"));
    assert_eq!(of(&app, "audit.read").await.len(), 2);

    // Without a session, the page asks to sign in first.
    let anonymous = app.browser();
    let page = anonymous.follow("/account/activiteit").await.expect_err("the sign-in page");
    assert!(!page.body.contains("U bent ingelogd"));
}

#[tokio::test]
async fn a_guessing_client_is_recorded_once_per_window_not_per_attempt() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let browser = app.browser();
    let start = rp.start(&[]);
    let page = browser.follow(&start.url).await.expect_err("the sign-in page");
    let limit = app.state.config.signin.max_failures_per_username as usize;
    for _ in 0..limit + 5 {
        browser.submit_login(&page, "kees", "fout").await;
    }
    assert_eq!(of(&app, "signin.failed").await.len(), limit, "each checked wrong password");
    assert_eq!(of(&app, "signin.throttled").await.len(), 1, "the refusals after the limit, once");
}

/// A portal's request with its own credentials (client_secret_basic) to `path`.
async fn portal_post(app: &TestApp, portal: &Portal, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let request = reqwest::Client::new().post(app.url(path)).basic_auth(&portal.client_id, portal.secret.as_ref());
    request.form(form).send().await.unwrap()
}

async fn introspect(app: &TestApp, portal: &Portal, token: &str) -> serde_json::Value {
    let response = portal_post(app, portal, "/introspect", &[("token", token)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// NEN 7513 counts reads of a person's data: each `/userinfo` answer and each active
/// `/introspect` answer about a person's token is a record, with the portal as actor, the person
/// as subject and the grant that links it to the tokens issued; inactive answers reveal nothing
/// and record nothing.
async fn a_portals_reads_are_recorded_one_per_request(app: TestApp) {
    let portal = app.alpha_portal().await;
    let beta = app.portal("beta", idp::store::ClientKind::Confidential).await;
    app.user("kees").await;
    let kees = app.state.store.account_by_username("kees").await.unwrap().unwrap();
    let rp = app.rp(&portal).await;
    let tokens = rp.sign_in(&app.browser(), "kees").await;
    let grant = of(&app, "token.issued").await[0].object_id.clone().expect("the grant");
    let access = tokens.access_token().secret().clone();
    let jti = verify_access_token(&app.state.keys(), &app.issuer, &access, app.now()).unwrap().jti;

    // Userinfo: one record per answer, also when the token check comes from the node's memory.
    rp.userinfo(tokens.access_token()).await.expect("userinfo");
    let reads = of(&app, "userinfo.read").await;
    assert_eq!(reads.len(), 1);
    let r = &reads[0];
    assert_eq!((r.action.as_str(), r.outcome.as_str()), ("R", "success"));
    assert_eq!((r.actor_role.as_str(), r.actor_id.as_deref()), ("portal", Some(portal.client_id.as_str())));
    assert!(r.actor_is_requester);
    assert_eq!(r.subject_id.as_deref(), Some(kees.id.as_str()), "whose data was read");
    assert_eq!(r.client_id.as_deref(), Some(portal.client_id.as_str()));
    assert_eq!((r.object_type.as_deref(), r.object_id.as_ref()), (Some("grant"), Some(&grant)));
    assert_eq!(r.client_address, None, "the portal's server address is not the person's");
    let d = detail(r);
    assert_eq!(d["scope"], "openid profile email");
    let claims: Vec<&str> = d["claims"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for claim in ["sub", "email", "given_name"] {
        assert!(claims.contains(&claim), "{claim} in {claims:?}");
    }
    assert!(d.get("act").is_none(), "kees acts for himself: {d}");
    assert!(!r.detail.contains("kees@example.nl"), "the claims' names, never their values");
    rp.userinfo(tokens.access_token()).await.expect("userinfo again");
    assert_eq!(of(&app, "userinfo.read").await.len(), 2, "every answer");

    // Introspection of the access token and of the refresh token.
    assert_eq!(introspect(&app, &portal, &access).await["active"], true);
    assert_eq!(introspect(&app, &portal, &tokens.refresh_token()).await["active"], true);
    let described = of(&app, "token.introspected").await;
    assert_eq!(described.len(), 2);
    for (r, kind) in described.iter().zip(["access_token", "refresh_token"]) {
        assert_eq!(r.action, "R");
        assert_eq!((r.actor_role.as_str(), r.actor_id.as_deref()), ("portal", Some(portal.client_id.as_str())));
        assert_eq!(r.subject_id.as_deref(), Some(kees.id.as_str()));
        assert_eq!(r.client_id.as_deref(), Some(portal.client_id.as_str()));
        assert_eq!(r.object_id.as_ref(), Some(&grant));
        assert_eq!(r.client_address, None);
        assert_eq!(detail(r)["token_type"], kind);
    }
    assert_eq!(detail(&described[0])["jti"], jti.as_str());

    // Answers that describe nothing are not reads: another portal's view, an unknown token,
    // an expired or revoked one.
    assert_eq!(introspect(&app, &beta, &access).await, serde_json::json!({"active": false}));
    assert_eq!(introspect(&app, &portal, "not-a-token").await, serde_json::json!({"active": false}));
    let revoked = portal_post(&app, &portal, "/revoke", &[("token", &tokens.refresh_token())]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &portal, &access).await["active"], false);
    assert!(rp.userinfo(tokens.access_token()).await.is_err());
    assert_eq!(of(&app, "token.introspected").await.len(), 2, "no record for an inactive answer");
    assert_eq!(of(&app, "userinfo.read").await.len(), 2, "no record for a refused userinfo");

    // "Activiteit" leaves the portal's reads out (one per request), not what they read with.
    let shown = app.state.audit.own_activity(app.state.store.as_ref(), &kees, 50, app.now()).await.unwrap();
    assert!(shown.iter().any(|r| r.event_type == "token.issued"));
    assert!(shown.iter().all(|r| r.event_type != "userinfo.read" && r.event_type != "token.introspected"));

    let verified = verify(app.state.store.as_ref(), &app.state.audit, None).await.unwrap().expect("an intact chain");
    assert_eq!(verified.records as usize, records(&app).await.len());
}

#[tokio::test]
async fn a_portals_reads_are_recorded_on_sqlite() {
    a_portals_reads_are_recorded_one_per_request(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_portals_reads_are_recorded_on_postgres() {
    a_portals_reads_are_recorded_one_per_request(TestApp::spawn_with(Backend::Postgres, |_| {}).await).await;
}

/// Client credentials: a machine client's first token of each hour is recorded as issued, with
/// its `jti`, the client and its organisation, and no person; introspecting it reads no one's data.
#[tokio::test]
async fn a_machine_clients_token_is_recorded() {
    let app = TestApp::spawn().await;
    let (id, secret) = app.machine("Roosterkoppeling").await;
    let machine = Portal {
        client_id: id.clone(),
        secret: Some(secret),
        redirect_uri: String::new(),
        post_logout_uri: String::new(),
    };
    let response = portal_post(&app, &machine, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let jti = verify_access_token(&app.state.keys(), &app.issuer, token, app.now()).unwrap().jti;
    let org = app.state.store.organisation_by_slug(&app.org).await.unwrap().unwrap();

    let issued = of(&app, "token.issued").await;
    assert_eq!(issued.len(), 1);
    let r = &issued[0];
    assert_eq!((r.action.as_str(), r.outcome.as_str()), ("C", "success"));
    assert_eq!((r.actor_role.as_str(), r.actor_id.as_deref()), ("portal", Some(id.as_str())));
    assert_eq!(r.subject_id, None, "no person is involved");
    assert_eq!((r.object_type.as_deref(), r.object_id.as_deref()), (Some("access_token"), Some(jti.as_str())));
    assert_eq!(r.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.organisation_id.as_deref(), Some(org.id.as_str()));
    assert_eq!(r.client_address, None);
    let d = detail(r);
    assert_eq!((d["grant_type"].as_str(), d["scope"].as_str()), (Some("client_credentials"), Some("profile")));
    assert!(!r.detail.contains(token), "never the token");

    // A refused request issues nothing and records nothing.
    let refused =
        portal_post(&app, &machine, "/token", &[("grant_type", "client_credentials"), ("scope", "email")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(of(&app, "token.issued").await.len(), 1);

    assert_eq!(introspect(&app, &machine, token).await["active"], true);
    assert!(of(&app, "token.introspected").await.is_empty(), "a machine token holds no one's data");

    // A machine may ask a token per call: its first one each hour is recorded, not every one.
    let again = portal_post(&app, &machine, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(of(&app, "token.issued").await.len(), 1, "the same hour");
    app.clock.advance(3601);
    let next_hour = portal_post(&app, &machine, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(next_hour.status(), StatusCode::OK);
    let issued = of(&app, "token.issued").await;
    assert_eq!(issued.len(), 2, "the next hour's first token");
    assert!(issued.iter().all(|r| detail(r)["recorded"] == "first_of_hour"));
}

/// RFC 7009 answers a token revoked before (or unknown) as if revoking it now; the log records
/// only the revocation that ended access.
async fn only_a_revocation_that_ends_access_is_recorded(app: TestApp) {
    let portal = app.alpha_portal().await;
    app.user("kees").await;
    let rp = app.rp(&portal).await;
    let revoke = |token: String| {
        let (app, portal) = (&app, &portal);
        async move {
            let response = portal_post(app, portal, "/revoke", &[("token", token.as_str())]).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    let count = || async { of(&app, "token.revoked").await.len() };

    // A refresh token: its grant is revoked and recorded, once.
    let first = rp.sign_in(&app.browser(), "kees").await;
    revoke(first.refresh_token()).await;
    assert_eq!(count().await, 1);
    revoke(first.refresh_token()).await;
    assert_eq!(count().await, 1, "revoked before: no second record");
    // Its access token died with the grant.
    revoke(first.access_token().secret().clone()).await;
    assert_eq!(count().await, 1, "an access token of a revoked grant");

    // An access token on its own: recorded once.
    let browser = app.browser();
    let second = rp.sign_in(&browser, "kees").await;
    revoke(second.access_token().secret().clone()).await;
    assert_eq!(count().await, 2);
    let r = &of(&app, "token.revoked").await[1];
    assert_eq!(r.object_type.as_deref(), Some("access_token"));
    revoke(second.access_token().secret().clone()).await;
    assert_eq!(count().await, 2, "the same access token again");

    // Unknown tokens, and a portal's token revoked by another portal (refused silently).
    revoke("not-a-token".into()).await;
    let beta = app.portal("beta", idp::store::ClientKind::Confidential).await;
    let foreign = portal_post(&app, &beta, "/revoke", &[("token", second.refresh_token().as_str())]).await;
    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(count().await, 2, "nothing revoked, nothing recorded");

    // A code voided by a sign-out, presented afterwards: refused, and there is no grant to
    // revoke, so no revocation is recorded either (the sign-out is).
    let start = rp.start(&[]);
    let callback = browser.follow(&start.url).await.expect("a code at once: the browser has a session");
    let code = crate::helpers::browser::query_param(&callback, "code").unwrap();
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &second.id_token);
    browser.get(url.as_str()).await;
    assert_eq!(of(&app, "session.ended").await.len(), 1);
    assert!(rp.exchange(&code, &start).await.is_err(), "the voided code");
    assert_eq!(count().await, 2);
}

#[tokio::test]
async fn only_a_revocation_that_ends_access_is_recorded_on_sqlite() {
    only_a_revocation_that_ends_access_is_recorded(TestApp::spawn().await).await;
}

#[tokio::test]
async fn only_a_revocation_that_ends_access_is_recorded_on_postgres() {
    only_a_revocation_that_ends_access_is_recorded(TestApp::spawn_with(Backend::Postgres, |_| {}).await).await;
}

/// A read whose record cannot be written is not answered, as a change is not made: no claims, no
/// token description and no machine token without their records.
#[tokio::test]
async fn without_its_record_nothing_is_read_or_issued() {
    let app = TestApp::spawn().await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let tokens = rp.sign_in(&app.browser(), "kees").await;
    let (id, secret) = app.machine("Roosterkoppeling").await;
    let machine =
        Portal { client_id: id, secret: Some(secret), redirect_uri: String::new(), post_logout_uri: String::new() };
    let before = records(&app).await.len();
    refuse_audit_records(&app, Backend::Sqlite).await;

    assert!(rp.userinfo(tokens.access_token()).await.is_err(), "no claims without their record");
    let described = portal_post(&app, &rp.portal, "/introspect", &[("token", tokens.access_token().secret())]).await;
    assert_eq!(described.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!described.text().await.unwrap().contains("\"sub\""));
    let issued = portal_post(&app, &machine, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(issued.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!issued.text().await.unwrap().contains("access_token"));
    assert_eq!(records(&app).await.len(), before);
}
