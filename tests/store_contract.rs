//! The storage contract: every check below runs, unchanged, against SQLite (a temporary file)
//! and PostgreSQL (a fresh database on the local server; the PostgreSQL tests fail, never skip,
//! when it is not running). Test names: `store_contract::{sqlite,postgres}::<check>`.

use std::sync::Arc;

use futures::future::join_all;
use idp::domain::{AccountId, ClientId, GrantId, OrganisationId, RedirectUri, Scopes, Secret, SessionId, Subject};
use idp::oidc::keys;
use idp::store::{
    self, Account, AuthorizationCode, Cached, Client, ClientKind, Grant, GrantType, Organisation, PkcePolicy,
    RefreshToken, Session, SigningAlg, Store, StoreError,
};

const NOW: i64 = 1_900_000_000;
/// Enough connections that the concurrency checks really run in parallel.
const CONNECTIONS: u32 = 12;
const RACERS: usize = 10;

// ---------------------------------------------------------------------------------------------
// Backends and the macro that runs every check against both.

struct Db {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<crate::helpers::PgDatabase>,
}

async fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("contract.db").display());
    let store = store::connect(&url, CONNECTIONS).await.expect("sqlite store");
    Db { store, _dir: Some(dir), _pg: None }
}

async fn postgres_db() -> Db {
    let db = crate::helpers::fresh_postgres().await;
    let store = store::connect(&db.url, CONNECTIONS).await.expect("postgres store");
    Db { store, _dir: None, _pg: Some(db) }
}

macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let db = super::sqlite_db().await;
                    super::$check(db.store.as_ref()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let db = super::postgres_db().await;
                    super::$check(db.store.as_ref()).await;
                }
            )*
        }
    };
}

contract!(
    organisations,
    clients,
    accounts,
    account_look_alikes,
    signing_keys,
    sessions,
    codes_redeem_once,
    codes_redeem_is_atomic,
    codes_concurrent_redeem,
    grants_and_refresh_rotation,
    grants_concurrent_rotation,
    grants_revocation,
    grants_move_to_a_new_session,
    access_token_revocation,
    change_generations,
    factors_and_totp_steps,
    recovery_codes_once,
    trusted_devices_die_with_the_password,
    transactions_are_all_or_nothing,
    invitations_activate_once,
    password_resets_once,
    principals_are_kept,
    outbox_leases,
    policies,
);

// ---------------------------------------------------------------------------------------------
// Fixtures. Codes and grants point at a client, an account and a session, so most checks start
// from a `Chain`.

fn scopes(s: &str) -> Scopes {
    Scopes::parse(s).expect("valid scopes")
}

fn uri(s: &str) -> RedirectUri {
    RedirectUri::parse(s).expect("valid redirect uri")
}

fn organisation(slug: &str) -> Organisation {
    Organisation {
        id: OrganisationId(format!("org-{slug}")),
        slug: slug.into(),
        name: format!("Zorggroep {slug}"),
        created_at: NOW,
    }
}

fn confidential_client(id: &str, org: &Organisation) -> Client {
    Client {
        id: ClientId(id.into()),
        organisation_id: org.id.clone(),
        name: format!("Cliëntportaal {id}"),
        kind: ClientKind::Confidential,
        secret_digest: Some(Secret::new(format!("digest-of-secret-{id}"))),
        redirect_uris: vec![
            uri(&format!("https://{id}.portal.example/callback")),
            uri("http://127.0.0.1:8080/cb?tenant=zorg"),
        ],
        post_logout_redirect_uris: vec![uri(&format!("https://{id}.portal.example/signed-out"))],
        scopes: scopes("openid profile email offline_access"),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        id_token_alg: SigningAlg::RS256,
        pkce: PkcePolicy::Optional,
        created_at: NOW + 1,
    }
}

fn account(id: &str, username: &str) -> Account {
    Account {
        id: AccountId(id.into()),
        subject: Subject(format!("sub-{id}")),
        username: username.into(),
        username_normalised: idp::domain::Username::normalise(username),
        username_skeleton: idp::domain::Username::skeleton_of(username),
        email: Some(format!("{id}@example.nl")),
        email_verified: true,
        given_name: "Jan".into(),
        family_name: "Jansen".into(),
        birth_date: Some("1950-03-31".into()),
        password_hash: Some(Secret::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into())),
        created_at: NOW + 2,
        disabled: false,
        must_change_password: false,
        password_via_mail: false,
    }
}

fn session(id: &str, account: &AccountId) -> Session {
    Session {
        acting_for: None,
        id: SessionId(id.into()),
        token_digest: format!("cookie-digest-{id}"),
        account_id: account.clone(),
        auth_time: NOW + 3,
        amr: vec!["pwd".into(), "otp".into()],
        acr: "urn:poortwachter:acr:mfa".into(),
        factors: vec![
            idp::auth::levels::FactorUse::password(false, NOW + 3),
            idp::auth::levels::FactorUse::new(idp::auth::levels::Method::Otp, idp::auth::levels::Channel::App, NOW + 3),
        ],
        created_at: NOW + 3,
        expires_at: NOW + 3 + 8 * 3600,
        ended_at: None,
    }
}

struct Chain {
    client: Client,
    account: Account,
    session: Session,
}

async fn chain(store: &dyn Store) -> Chain {
    let org = organisation("zorg");
    store.create_organisation(&org).await.expect("organisation");
    let client = confidential_client("portaal", &org);
    store.create_client(&client).await.expect("client");
    let account = account("acc-1", "Jan.Jansen");
    store.create_account(&account).await.expect("account");
    let session = session("sid-1", &account.id);
    store.create_session(&session).await.expect("session");
    Chain { client, account, session }
}

impl Chain {
    fn code(&self, digest: &str, grant: &str) -> AuthorizationCode {
        AuthorizationCode {
            acting_for: None,
            digest: digest.into(),
            client_id: self.client.id.clone(),
            account_id: self.account.id.clone(),
            session_id: self.session.id.clone(),
            redirect_uri: self.client.redirect_uris[0].as_str().into(),
            scope: scopes("openid profile offline_access"),
            nonce: Some("n-0S6_WzA2Mj".into()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            auth_time: self.session.auth_time,
            acr: self.session.acr.clone(),
            amr: self.session.amr.clone(),
            grant_id: GrantId(grant.into()),
            expires_at: NOW + 60,
            redeemed_at: None,
        }
    }

    /// A grant issued under this chain's session (or `session`, when given).
    fn grant(&self, id: &str, session: Option<&SessionId>) -> Grant {
        Grant {
            acting_for: None,
            id: GrantId(id.into()),
            client_id: self.client.id.clone(),
            account_id: Some(self.account.id.clone()),
            session_id: Some(session.unwrap_or(&self.session.id).clone()),
            scope: scopes("openid profile offline_access"),
            auth_time: Some(self.session.auth_time),
            acr: Some(self.session.acr.clone()),
            amr: self.session.amr.clone(),
            created_at: NOW + 10,
            expires_at: NOW + 30 * 86_400,
            revoked_at: None,
        }
    }

    /// A client-credentials grant: no account, no session.
    fn machine_grant(&self, id: &str) -> Grant {
        Grant {
            acting_for: None,
            id: GrantId(id.into()),
            client_id: self.client.id.clone(),
            account_id: None,
            session_id: None,
            scope: scopes("profile"),
            auth_time: None,
            acr: None,
            amr: vec![],
            created_at: NOW + 10,
            expires_at: NOW + 3600,
            revoked_at: None,
        }
    }
}

fn refresh(digest: &str, grant: &GrantId) -> RefreshToken {
    RefreshToken {
        digest: digest.into(),
        grant_id: grant.clone(),
        scope: scopes("openid profile"),
        created_at: NOW + 10,
        used_at: None,
    }
}

fn gid(id: &str) -> GrantId {
    GrantId(id.into())
}

async fn grant_of(store: &dyn Store, id: &str) -> Option<Grant> {
    store.grant_by_id(&gid(id)).await.expect("grant_by_id")
}

async fn token_of(store: &dyn Store, digest: &str) -> Option<RefreshToken> {
    store.refresh_token_by_digest(digest).await.expect("refresh_token_by_digest")
}

// ---------------------------------------------------------------------------------------------
// The checks.

async fn organisations(store: &dyn Store) {
    let noord = organisation("zorg-noord");
    let amstel = organisation("amstelzorg");
    store.create_organisation(&noord).await.unwrap();
    store.create_organisation(&amstel).await.unwrap();

    assert_eq!(store.organisation_by_slug("zorg-noord").await.unwrap(), Some(noord.clone()));
    assert_eq!(store.organisation_by_slug("amstelzorg").await.unwrap(), Some(amstel.clone()));
    assert_eq!(store.organisation_by_slug("zorg-zuid").await.unwrap(), None);

    let mut clash = organisation("zorg-noord");
    clash.id = OrganisationId("org-other".into());
    clash.name = "Andere zorggroep".into();
    let err = store.create_organisation(&clash).await.expect_err("duplicate slug must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "duplicate slug: {err:?}");

    let mut listed = store.list_organisations().await.unwrap();
    listed.sort_by(|a, b| a.slug.cmp(&b.slug));
    assert_eq!(listed, vec![amstel, noord], "the rejected duplicate is not stored");
}

async fn clients(store: &dyn Store) {
    let org = organisation("zorg");
    store.create_organisation(&org).await.unwrap();
    let confidential = confidential_client("portaal-a", &org);
    let public = Client {
        id: ClientId("spa-b".into()),
        organisation_id: org.id.clone(),
        name: "Mobiele app".into(),
        kind: ClientKind::Public,
        secret_digest: None,
        redirect_uris: vec![uri("https://app.example/cb")],
        post_logout_redirect_uris: vec![],
        scopes: scopes("openid"),
        grant_types: vec![GrantType::AuthorizationCode],
        id_token_alg: SigningAlg::ES256,
        pkce: PkcePolicy::Required,
        created_at: NOW + 5,
    };
    let machine = Client {
        id: ClientId("machine-c".into()),
        kind: ClientKind::Confidential,
        redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        scopes: scopes("profile"),
        ..confidential_client("machine-c", &org)
    };
    for c in [&confidential, &public, &machine] {
        store.create_client(c).await.unwrap();
    }

    // Every field round-trips, lists in their order.
    for c in [&confidential, &public, &machine] {
        assert_eq!(store.client_by_id(&c.id).await.unwrap().as_ref(), Some(c));
    }
    let got = store.client_by_id(&confidential.id).await.unwrap().unwrap();
    assert_eq!(got.secret_digest.as_ref().map(|s| s.expose().as_str()), Some("digest-of-secret-portaal-a"));
    assert_eq!(got.redirect_uris.len(), 2);
    assert!(got.allows(GrantType::RefreshToken) && !got.allows(GrantType::ClientCredentials));

    assert_eq!(store.client_by_id(&ClientId("unknown".into())).await.unwrap(), None);

    let dup = Client { name: "Kopie".into(), ..public.clone() };
    let err = store.create_client(&dup).await.expect_err("duplicate client id must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "duplicate client id: {err:?}");

    let mut listed = store.list_clients().await.unwrap();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, vec![machine.clone(), confidential.clone(), public]);

    // The PKCE rule changes on its own; nothing else about the client does.
    assert!(!confidential.requires_pkce());
    store.set_client_pkce(&confidential.id, PkcePolicy::Required).await.unwrap();
    let required = store.client_by_id(&confidential.id).await.unwrap().unwrap();
    assert_eq!(required, Client { pkce: PkcePolicy::Required, ..confidential.clone() });
    assert!(required.requires_pkce());
    store.set_client_pkce(&confidential.id, PkcePolicy::Optional).await.unwrap();
    assert_eq!(store.client_by_id(&confidential.id).await.unwrap(), Some(confidential));
    assert_eq!(store.client_by_id(&machine.id).await.unwrap(), Some(machine), "other clients unchanged");
    let err = store.set_client_pkce(&ClientId("unknown".into()), PkcePolicy::Required).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "unknown client: {err:?}");
}

/// Unicode TS #39: a username whose confusable skeleton equals an existing account's is a conflict
/// of its own, distinct from a taken name; a taken name is reported as taken even when it also
/// looks alike.
async fn account_look_alikes(store: &dyn Store) {
    let jan = account("acc-jan", "Jan Jansen");
    store.create_account(&jan).await.unwrap();
    for (i, look_alike) in [
        "J\u{430}n Jansen",   // Cyrillic а
        "Jan\u{200B} Jansen", // zero-width space
        "Ja\u{AD}n Jansen",   // soft hyphen
        "Jan Jansen\u{FE0F}", // variation selector
    ]
    .into_iter()
    .enumerate()
    {
        let twin = account(&format!("acc-twin-{i}"), look_alike);
        assert_ne!(twin.username_normalised, jan.username_normalised, "{}", look_alike.escape_unicode());
        assert_eq!(twin.username_skeleton, jan.username_skeleton, "{}", look_alike.escape_unicode());
        let err = store.create_account(&twin).await.expect_err("look-alike must fail");
        assert!(
            matches!(err, StoreError::Conflict(store::USERNAME_LOOKALIKE)),
            "{}: {err:?}",
            look_alike.escape_unicode()
        );
        assert_eq!(store.account_by_id(&twin.id).await.unwrap(), None, "nothing stored");
    }
    let err = store.create_account(&account("acc-same", "JAN JANSEN")).await.expect_err("taken");
    assert!(matches!(err, StoreError::Conflict("username")), "taken wins over look-alike: {err:?}");

    // Dotless ı is Latin, so only the skeleton tells "admın" from "admin".
    let admin = account("acc-admin", "admin");
    store.create_account(&admin).await.unwrap();
    let err = store.create_account(&account("acc-admin-2", "adm\u{131}n")).await.expect_err("look-alike");
    assert!(matches!(err, StoreError::Conflict(store::USERNAME_LOOKALIKE)), "{err:?}");

    let stored = store.account_by_id(&jan.id).await.unwrap().unwrap();
    assert_eq!(stored.username_skeleton, idp::domain::Username::skeleton_of("Jan Jansen"));
    assert_eq!(store.list_accounts().await.unwrap().len(), 2);
}

async fn accounts(store: &dyn Store) {
    let jan = account("acc-jan", "Jan Jansen");
    assert_eq!(jan.username_normalised, "jan jansen");
    let piet = Account {
        email: None,
        email_verified: false,
        birth_date: None,
        password_hash: None,
        disabled: true,
        given_name: "Piet".into(),
        family_name: "de Vries".into(),
        ..account("acc-piet", "Piet de Vries")
    };
    store.create_account(&jan).await.unwrap();
    store.create_account(&piet).await.unwrap();

    assert_eq!(store.account_by_username("jan jansen").await.unwrap(), Some(jan.clone()));
    assert_eq!(store.account_by_username("piet de vries").await.unwrap(), Some(piet.clone()));
    assert_eq!(store.account_by_username("Jan Jansen").await.unwrap(), None, "lookup is by normalised name");
    assert_eq!(store.account_by_id(&jan.id).await.unwrap(), Some(jan.clone()));
    assert_eq!(store.account_by_id(&piet.id).await.unwrap(), Some(piet.clone()));
    assert_eq!(store.account_by_id(&AccountId("acc-none".into())).await.unwrap(), None);

    // Same person typed differently (full-width letters, case): the normalised name is taken.
    let twin = account("acc-twin", "ＪＡＮ JANSEN");
    assert_eq!(twin.username_normalised, jan.username_normalised);
    let err = store.create_account(&twin).await.expect_err("duplicate username must fail");
    assert!(matches!(err, StoreError::Conflict("username")), "duplicate username: {err:?}");
    assert_eq!(store.account_by_id(&twin.id).await.unwrap(), None);

    // A clash on the subject is not reported as a taken username.
    let mut same_sub = account("acc-sub", "Someone Else");
    same_sub.subject = jan.subject.clone();
    let err = store.create_account(&same_sub).await.expect_err("duplicate subject must fail");
    assert!(matches!(err, StoreError::Conflict("account")), "duplicate subject: {err:?}");

    let mut listed = store.list_accounts().await.unwrap();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, vec![jan, piet]);
}

async fn signing_keys(store: &dyn Store) {
    assert!(store.list_keys().await.unwrap().is_empty());
    let late = keys::generate(SigningAlg::ES256, NOW, NOW + 7200).unwrap();
    let first = keys::generate(SigningAlg::RS256, NOW, NOW).unwrap();
    let middle = keys::generate(SigningAlg::ES256, NOW, NOW + 3600).unwrap();
    for k in [&late, &first, &middle] {
        store.insert_key(k).await.unwrap();
    }
    assert_eq!(
        store.list_keys().await.unwrap(),
        vec![first.clone(), middle.clone(), late.clone()],
        "ordered by signs_from"
    );

    let err = store.insert_key(&first).await.expect_err("duplicate kid must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "duplicate kid: {err:?}");

    store.set_key_publish_until(&first.kid, NOW + 86_400).await.unwrap();
    let listed = store.list_keys().await.unwrap();
    let until: Vec<_> = listed.iter().map(|k| (k.kid.as_str(), k.publish_until)).collect();
    assert_eq!(
        until,
        vec![(first.kid.as_str(), Some(NOW + 86_400)), (middle.kid.as_str(), None), (late.kid.as_str(), None)]
    );
    assert_eq!(listed[0].private_jwk, first.private_jwk, "only publish_until changed");
}

async fn sessions(store: &dyn Store) {
    let c = chain(store).await;
    let other = session("sid-2", &c.account.id);
    store.create_session(&other).await.unwrap();

    assert_eq!(store.session_by_token_digest(&c.session.token_digest).await.unwrap(), Some(c.session.clone()));
    assert_eq!(store.session_by_id(&c.session.id).await.unwrap(), Some(c.session.clone()));
    assert_eq!(store.session_by_token_digest("cookie-digest-none").await.unwrap(), None);
    assert_eq!(store.session_by_id(&SessionId("sid-none".into())).await.unwrap(), None);

    let dup = Session { id: SessionId("sid-3".into()), ..other.clone() };
    let err = store.create_session(&dup).await.expect_err("duplicate token digest must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "duplicate token digest: {err:?}");

    assert!(store.end_session(&c.session.id, NOW + 100).await.unwrap(), "first end");
    assert!(!store.end_session(&c.session.id, NOW + 200).await.unwrap(), "second end");
    assert!(!store.end_session(&SessionId("sid-none".into()), NOW + 200).await.unwrap(), "unknown session");
    let ended = store.session_by_id(&c.session.id).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(NOW + 100), "the second end does not move ended_at");
    assert!(!ended.is_active(NOW + 101));
    assert_eq!(store.session_by_id(&other.id).await.unwrap().unwrap().ended_at, None, "other session untouched");
}

async fn codes_redeem_once(store: &dyn Store) {
    let c = chain(store).await;
    let code = c.code("code-digest-1", "grant-1");
    store.insert_code(&code).await.unwrap();
    assert_eq!(store.code_by_digest("code-digest-1").await.unwrap(), Some(code.clone()));
    assert_eq!(store.code_by_digest("code-digest-none").await.unwrap(), None);

    let grant = c.grant("grant-1", None);
    let rt = refresh("rt-1", &grant.id);
    assert!(store.redeem_code("code-digest-1", NOW + 5, &grant, Some(&rt)).await.unwrap());
    assert_eq!(grant_of(store, "grant-1").await, Some(grant.clone()));
    assert_eq!(token_of(store, "rt-1").await, Some(rt.clone()));
    assert_eq!(store.code_by_digest("code-digest-1").await.unwrap().unwrap().redeemed_at, Some(NOW + 5));

    // A replay: false, and nothing of the second redemption is stored.
    let replay = c.grant("grant-2", None);
    let rt2 = refresh("rt-2", &replay.id);
    assert!(!store.redeem_code("code-digest-1", NOW + 6, &replay, Some(&rt2)).await.unwrap());
    assert_eq!(grant_of(store, "grant-2").await, None);
    assert_eq!(token_of(store, "rt-2").await, None);
    assert_eq!(store.code_by_digest("code-digest-1").await.unwrap().unwrap().redeemed_at, Some(NOW + 5));
    assert_eq!(grant_of(store, "grant-1").await, Some(grant), "the first grant is untouched");

    // An unknown code redeems nothing.
    let ghost = c.grant("grant-3", None);
    assert!(!store.redeem_code("code-digest-none", NOW + 6, &ghost, None).await.unwrap());
    assert_eq!(grant_of(store, "grant-3").await, None);

    // Without a refresh token (no offline_access) only the grant is created.
    store.insert_code(&c.code("code-digest-4", "grant-4")).await.unwrap();
    assert!(store.redeem_code("code-digest-4", NOW + 7, &c.grant("grant-4", None), None).await.unwrap());
    assert!(grant_of(store, "grant-4").await.is_some());
}

async fn codes_redeem_is_atomic(store: &dyn Store) {
    let c = chain(store).await;
    store.create_grant(&c.grant("grant-taken", None), Some(&refresh("rt-taken", &gid("grant-taken")))).await.unwrap();
    store.insert_code(&c.code("code-digest-1", "grant-1")).await.unwrap();

    // The grant cannot be stored (its id is taken): the code must stay redeemable.
    let clash = c.grant("grant-taken", None);
    let err = store
        .redeem_code("code-digest-1", NOW + 5, &clash, Some(&refresh("rt-new", &clash.id)))
        .await
        .expect_err("grant id clash must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "grant id clash: {err:?}");
    assert_eq!(store.code_by_digest("code-digest-1").await.unwrap().unwrap().redeemed_at, None);
    assert_eq!(token_of(store, "rt-new").await, None);

    // The refresh token cannot be stored (digest taken): neither the grant nor the redemption stays.
    let grant = c.grant("grant-1", None);
    let err = store
        .redeem_code("code-digest-1", NOW + 6, &grant, Some(&refresh("rt-taken", &grant.id)))
        .await
        .expect_err("refresh digest clash must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "refresh digest clash: {err:?}");
    assert_eq!(grant_of(store, "grant-1").await, None);
    assert_eq!(store.code_by_digest("code-digest-1").await.unwrap().unwrap().redeemed_at, None);

    // And it still redeems, once.
    assert!(store.redeem_code("code-digest-1", NOW + 7, &grant, Some(&refresh("rt-1", &grant.id))).await.unwrap());
    assert_eq!(grant_of(store, "grant-1").await, Some(grant));
}

async fn codes_concurrent_redeem(store: &dyn Store) {
    let c = chain(store).await;
    for round in 0..3 {
        let digest = format!("code-digest-race-{round}");
        store.insert_code(&c.code(&digest, &format!("grant-{round}"))).await.unwrap();
        let grants: Vec<Grant> = (0..RACERS).map(|i| c.grant(&format!("grant-{round}-{i}"), None)).collect();
        let tokens: Vec<RefreshToken> =
            grants.iter().map(|g| refresh(&format!("rt-{}", g.id.as_str()), &g.id)).collect();

        let results =
            join_all(grants.iter().zip(&tokens).map(|(g, t)| store.redeem_code(&digest, NOW + 5, g, Some(t)))).await;
        let results: Vec<bool> =
            results.into_iter().map(|r| r.expect("a losing redemption is false, not an error")).collect();
        assert_eq!(results.iter().filter(|&&won| won).count(), 1, "round {round}: {results:?}");
        let winner = results.iter().position(|&won| won).unwrap();

        for (i, (g, t)) in grants.iter().zip(&tokens).enumerate() {
            let stored = store.grant_by_id(&g.id).await.unwrap();
            let token = token_of(store, &t.digest).await;
            if i == winner {
                assert_eq!(stored.as_ref(), Some(g), "round {round}: the winner's grant");
                assert_eq!(token.as_ref(), Some(t), "round {round}: the winner's refresh token");
            } else {
                assert_eq!(stored, None, "round {round}: loser {i} created a grant");
                assert_eq!(token, None, "round {round}: loser {i} created a refresh token");
            }
        }
    }
}

async fn grants_and_refresh_rotation(store: &dyn Store) {
    let c = chain(store).await;
    let grant = c.grant("grant-1", None);
    let rt1 = refresh("rt-1", &grant.id);
    store.create_grant(&grant, Some(&rt1)).await.unwrap();
    assert_eq!(grant_of(store, "grant-1").await, Some(grant.clone()));
    assert_eq!(token_of(store, "rt-1").await, Some(rt1.clone()));
    assert_eq!(store.grant_client(&grant.id).await.unwrap(), Some(c.client.id.clone()));
    assert_eq!(store.grant_client(&gid("grant-none")).await.unwrap(), None);
    assert_eq!(grant_of(store, "grant-none").await, None);

    // A client-credentials grant, without refresh token, round-trips its empty fields.
    let machine = c.machine_grant("grant-m");
    store.create_grant(&machine, None).await.unwrap();
    assert_eq!(grant_of(store, "grant-m").await, Some(machine));

    // create_grant is atomic: a refresh token that cannot be stored takes the grant with it.
    let orphan = c.grant("grant-orphan", None);
    let err = store.create_grant(&orphan, Some(&refresh("rt-1", &orphan.id))).await.expect_err("digest clash");
    assert!(matches!(err, StoreError::Conflict(_)), "refresh digest clash: {err:?}");
    assert_eq!(grant_of(store, "grant-orphan").await, None);
    assert_eq!(token_of(store, "rt-1").await, Some(rt1.clone()), "the existing token is untouched");

    // Rotation: old marked used, new stored.
    let rt2 = RefreshToken { created_at: NOW + 60, ..refresh("rt-2", &grant.id) };
    assert!(store.rotate_refresh_token("rt-1", &rt2, NOW + 60).await.unwrap());
    assert_eq!(token_of(store, "rt-1").await.unwrap().used_at, Some(NOW + 60));
    assert_eq!(token_of(store, "rt-2").await, Some(rt2.clone()));

    // Reuse of the old token: false, nothing stored, nothing else changed.
    let rt3 = refresh("rt-3", &grant.id);
    assert!(!store.rotate_refresh_token("rt-1", &rt3, NOW + 70).await.unwrap());
    assert_eq!(token_of(store, "rt-3").await, None);
    assert_eq!(token_of(store, "rt-1").await.unwrap().used_at, Some(NOW + 60));
    assert_eq!(token_of(store, "rt-2").await.unwrap().used_at, None);

    // An unknown token does not rotate; the new one rotates in turn.
    assert!(!store.rotate_refresh_token("rt-none", &rt3, NOW + 70).await.unwrap());
    assert_eq!(token_of(store, "rt-3").await, None);

    // Rotation is atomic: when the new token cannot be stored, the old one stays unused.
    let clash = refresh("rt-1", &grant.id);
    let err = store.rotate_refresh_token("rt-2", &clash, NOW + 75).await.expect_err("new digest clash must fail");
    assert!(matches!(err, StoreError::Conflict(_)), "new digest clash: {err:?}");
    assert_eq!(token_of(store, "rt-2").await.unwrap().used_at, None);

    assert!(store.rotate_refresh_token("rt-2", &rt3, NOW + 80).await.unwrap());
    assert_eq!(token_of(store, "rt-3").await, Some(rt3));
}

async fn grants_concurrent_rotation(store: &dyn Store) {
    let c = chain(store).await;
    let grant = c.grant("grant-1", None);
    store.create_grant(&grant, Some(&refresh("rt-0", &grant.id))).await.unwrap();
    for round in 0..3 {
        let old = format!("rt-{round}");
        let next = format!("rt-{}", round + 1);
        let candidates: Vec<RefreshToken> =
            (0..RACERS).map(|i| refresh(&format!("rt-{round}-cand-{i}"), &grant.id)).collect();
        let results = join_all(candidates.iter().map(|t| store.rotate_refresh_token(&old, t, NOW + 100 + round))).await;
        let results: Vec<bool> =
            results.into_iter().map(|r| r.expect("a losing rotation is false, not an error")).collect();
        assert_eq!(results.iter().filter(|&&won| won).count(), 1, "round {round}: {results:?}");
        let winner = results.iter().position(|&won| won).unwrap();
        for (i, t) in candidates.iter().enumerate() {
            let stored = token_of(store, &t.digest).await;
            assert_eq!(stored.is_some(), i == winner, "round {round}: candidate {i} stored = {stored:?}");
        }
        // Chain the next round onto the winner under a predictable name.
        let rt = refresh(&next, &grant.id);
        assert!(store.rotate_refresh_token(&candidates[winner].digest, &rt, NOW + 100 + round).await.unwrap());
    }
}

async fn grants_revocation(store: &dyn Store) {
    let c = chain(store).await;
    let other = session("sid-2", &c.account.id);
    store.create_session(&other).await.unwrap();
    let a = c.grant("grant-a", None);
    let b = c.grant("grant-b", None);
    let o = c.grant("grant-o", Some(&other.id));
    let m = c.machine_grant("grant-m");
    for g in [&a, &b, &o, &m] {
        store.create_grant(g, None).await.unwrap();
    }

    let before = store.generation(Cached::Revocations).await.unwrap();
    store.end_session(&c.session.id, NOW + 100).await.unwrap();
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 1, "every revocation is announced");
    assert_eq!(grant_of(store, "grant-a").await.unwrap().revoked_at, Some(NOW + 100));
    assert_eq!(grant_of(store, "grant-b").await.unwrap().revoked_at, Some(NOW + 100));
    assert_eq!(grant_of(store, "grant-o").await.unwrap().revoked_at, None, "other session's grant");
    assert_eq!(grant_of(store, "grant-m").await.unwrap().revoked_at, None, "grant without session");

    store.revoke_grant(&o.id, NOW + 200).await.unwrap();
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 2);
    let revoked = grant_of(store, "grant-o").await.unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 200));
    assert!(!revoked.is_active(NOW + 201));
    assert_eq!(grant_of(store, "grant-m").await.unwrap().revoked_at, None, "only the named grant");

    // Revoking again (or a whole session again) never un-revokes.
    store.revoke_grant(&o.id, NOW + 300).await.unwrap();
    store.end_session(&c.session.id, NOW + 300).await.unwrap();
    assert!(grant_of(store, "grant-o").await.unwrap().revoked_at.is_some());
    assert!(grant_of(store, "grant-a").await.unwrap().revoked_at.is_some());
    store.revoke_grant(&gid("grant-none"), NOW + 300).await.unwrap();
}

async fn grants_move_to_a_new_session(store: &dyn Store) {
    let c = chain(store).await;
    let next = session("sid-next", &c.account.id);
    let bystander = session("sid-other", &c.account.id);
    store.create_session(&next).await.unwrap();
    store.create_session(&bystander).await.unwrap();
    store.create_grant(&c.grant("grant-a", None), None).await.unwrap();
    store.create_grant(&c.grant("grant-o", Some(&bystander.id)), None).await.unwrap();

    store.move_grants(&c.session.id, &next.id).await.unwrap();
    assert_eq!(grant_of(store, "grant-a").await.unwrap().session_id, Some(next.id.clone()));
    assert_eq!(grant_of(store, "grant-o").await.unwrap().session_id, Some(bystander.id.clone()), "only that session's");
    // Signing out of the new session now reaches the moved grant.
    store.end_session(&next.id, NOW + 100).await.unwrap();
    assert!(grant_of(store, "grant-a").await.unwrap().revoked_at.is_some());
    assert!(grant_of(store, "grant-o").await.unwrap().revoked_at.is_none());
}

async fn access_token_revocation(store: &dyn Store) {
    let c = chain(store).await;
    let g = c.grant("grant-1", None);
    let other = c.grant("grant-2", None);
    store.create_grant(&g, None).await.unwrap();
    store.create_grant(&other, None).await.unwrap();

    // By jti.
    assert!(!store.access_token_revoked("jti-1", None).await.unwrap());
    assert!(!store.access_token_revoked("jti-1", Some(&g.id)).await.unwrap());
    let before = store.generation(Cached::Revocations).await.unwrap();
    store.revoke_access_token("jti-1", NOW + 300).await.unwrap();
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 1, "announced");
    store.revoke_access_token("jti-1", NOW + 300).await.expect("revoking twice is fine (RFC 7009 §2.2)");
    assert!(store.access_token_revoked("jti-1", None).await.unwrap());
    assert!(store.access_token_revoked("jti-1", Some(&other.id)).await.unwrap());
    assert!(!store.access_token_revoked("jti-2", None).await.unwrap(), "only that jti");

    // By grant.
    assert!(!store.access_token_revoked("jti-2", Some(&g.id)).await.unwrap());
    store.revoke_grant(&g.id, NOW + 400).await.unwrap();
    assert!(store.access_token_revoked("jti-2", Some(&g.id)).await.unwrap());
    assert!(!store.access_token_revoked("jti-2", Some(&other.id)).await.unwrap(), "only that grant");
    assert!(!store.access_token_revoked("jti-2", None).await.unwrap());
    assert!(!store.access_token_revoked("jti-2", Some(&gid("grant-none"))).await.unwrap());
}

async fn change_generations(store: &dyn Store) {
    let clients0 = store.generation(Cached::Clients).await.unwrap();
    let keys0 = store.generation(Cached::Keys).await.unwrap();

    store.bump_generation(Cached::Clients).await.unwrap();
    assert_eq!(store.generation(Cached::Clients).await.unwrap(), clients0 + 1);
    assert_eq!(store.generation(Cached::Keys).await.unwrap(), keys0);

    store.bump_generation(Cached::Keys).await.unwrap();
    store.bump_generation(Cached::Keys).await.unwrap();
    assert_eq!(store.generation(Cached::Keys).await.unwrap(), keys0 + 2);
    assert_eq!(store.generation(Cached::Clients).await.unwrap(), clients0 + 1);

    // Concurrent bumps are not lost.
    join_all((0..RACERS).map(|_| store.bump_generation(Cached::Clients)))
        .await
        .into_iter()
        .for_each(|r| r.expect("bump"));
    assert_eq!(store.generation(Cached::Clients).await.unwrap(), clients0 + 1 + RACERS as i64);
    assert_eq!(store.generation(Cached::Keys).await.unwrap(), keys0 + 2);
}

// ---------------------------------------------------------------------------------------------
// Second factors.

fn notice(to: &str) -> store::OutboxMail {
    store::OutboxMail::queued(
        None,
        to.into(),
        ("Zorg".into(), "zorg@example.nl".into()),
        ("s".into(), "t".into(), "h".into()),
        NOW,
    )
}

fn totp_factor(id: &str, account: &AccountId) -> store::Factor {
    store::Factor {
        id: id.into(),
        account_id: account.clone(),
        kind: store::FactorKind::Totp,
        label: String::new(),
        secret: Some(Secret::new("sealed".into())),
        phone: None,
        credential_id: None,
        last_used_step: None,
        created_at: NOW,
        confirmed_at: None,
        last_used_at: None,
    }
}

/// Runs one write in its own transaction with a notice mail, and commits.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $write:expr) => {{
        let mut $tx = $store.begin().await.expect("begin");
        let result = $write.await.expect("write");
        $tx.enqueue_mail(&notice("someone@example.nl")).await.expect("mail");
        $tx.commit().await.expect("commit");
        result
    }};
}

async fn factors_and_totp_steps(store: &dyn Store) {
    let a = account("acc-f", "fenna");
    store.create_account(&a).await.unwrap();
    store.add_factor(&totp_factor("f1", &a.id)).await.unwrap();
    store.add_factor(&totp_factor("f2", &a.id)).await.unwrap();
    assert!(in_tx!(store, |tx| tx.confirm_factor("f2", NOW)));
    assert!(!in_tx!(store, |tx| tx.confirm_factor("f2", NOW)), "confirmed once");
    let left = store.factors(&a.id).await.unwrap();
    assert_eq!(left.len(), 1, "the other pending app of the same kind is dropped");
    assert_eq!(left[0].confirmed_at, Some(NOW));
    // A step is accepted once, however many race; an older step never after a newer one.
    let wins = join_all((0..RACERS).map(|_| store.use_totp_step("f2", 100, NOW))).await;
    assert_eq!(wins.into_iter().filter(|w| *w.as_ref().unwrap()).count(), 1);
    assert!(!store.use_totp_step("f2", 99, NOW).await.unwrap());
    assert!(store.use_totp_step("f2", 101, NOW).await.unwrap());
    let other = account("acc-g", "gert");
    store.create_account(&other).await.unwrap();
    assert!(!in_tx!(store, |tx| tx.remove_factor("f2", &other.id, NOW)), "only the owner removes");
    assert!(in_tx!(store, |tx| tx.remove_factor("f2", &a.id, NOW)));
    assert!(store.factors(&a.id).await.unwrap().is_empty());
    // A passkey is added confirmed; a second with the same credential is refused.
    let passkey = store::Factor {
        kind: store::FactorKind::Passkey,
        credential_id: Some("cred-1".into()),
        confirmed_at: Some(NOW),
        ..totp_factor("p1", &a.id)
    };
    in_tx!(store, |tx| tx.add_confirmed_factor(&passkey));
    let mut tx = store.begin().await.unwrap();
    let twin = store::Factor { id: "p2".into(), ..passkey.clone() };
    assert!(matches!(tx.add_confirmed_factor(&twin).await, Err(StoreError::Conflict(_))), "credential ids are unique");
    drop(tx);
    // An operator's reset: everything goes at once.
    store.add_factor(&totp_factor("f3", &a.id)).await.unwrap();
    in_tx!(store, |tx| tx.replace_recovery_codes(&a.id, &["d".into()], NOW));
    in_tx!(store, |tx| tx.reset_factors(&a.id, None, NOW));
    assert!(store.factors(&a.id).await.unwrap().is_empty());
    assert_eq!(store.recovery_codes_left(&a.id).await.unwrap(), 0);
    assert!(!store.account_by_id(&a.id).await.unwrap().unwrap().must_change_password, "the password stays");
    let temporary = Secret::new("temporary-hash".to_string());
    in_tx!(store, |tx| tx.reset_factors(&a.id, Some(&temporary), NOW));
    let after = store.account_by_id(&a.id).await.unwrap().unwrap();
    assert!(after.must_change_password && !after.password_via_mail);
    assert_eq!(after.password_hash.unwrap().expose(), "temporary-hash");
}

async fn recovery_codes_once(store: &dyn Store) {
    let a = account("acc-r", "rik");
    store.create_account(&a).await.unwrap();
    let digests: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
    in_tx!(store, |tx| tx.replace_recovery_codes(&a.id, &digests, NOW));
    assert_eq!(store.recovery_codes_left(&a.id).await.unwrap(), 10);
    let use_once = || async {
        let mut tx = store.begin().await?;
        let used = tx.use_recovery_code(&a.id, "d3", NOW).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(used)
    };
    let wins = join_all((0..RACERS).map(|_| use_once())).await;
    assert_eq!(wins.into_iter().filter(|w| *w.as_ref().unwrap()).count(), 1, "single use under concurrency");
    assert_eq!(store.recovery_codes_left(&a.id).await.unwrap(), 9);
    in_tx!(store, |tx| tx.replace_recovery_codes(&a.id, &digests[..2], NOW));
    assert_eq!(store.recovery_codes_left(&a.id).await.unwrap(), 2, "new codes replace the old");
}

/// A use case's transaction keeps all or nothing: its writes, its mail and its audit record are
/// gone when it is dropped before commit, and all there after commit.
async fn transactions_are_all_or_nothing(store: &dyn Store) {
    let a = account("acc-x", "xander");
    store.create_account(&a).await.unwrap();
    let digests = vec!["x1".to_string()];
    let mail = notice("x@example.nl");
    let head = store.audit_head().await.unwrap();
    let record = |seq: i64, prev: &str| store::AuditRecord {
        seq,
        id: format!("rec-{seq}"),
        time: NOW,
        event_type: "factor.recovery_codes_issued".into(),
        action: "C".into(),
        outcome: "success".into(),
        actor_id: Some(a.id.0.clone()),
        actor_name: None,
        actor_role: "client".into(),
        actor_is_requester: true,
        subject_id: Some(a.id.0.clone()),
        client_address: None,
        object_type: None,
        object_id: None,
        node: "test".into(),
        organisation_id: None,
        client_id: None,
        detail: "{}".into(),
        prev_hash: prev.into(),
        hash: format!("hash-{seq}"),
    };
    {
        let mut tx = store.begin().await.unwrap();
        tx.replace_recovery_codes(&a.id, &digests, NOW).await.unwrap();
        tx.enqueue_mail(&mail).await.unwrap();
        let locked = tx.lock_audit_head().await.unwrap();
        tx.append_audit_record(&record(locked.seq + 1, &locked.hash)).await.unwrap();
        // Dropped: rolled back.
    }
    assert_eq!(store.recovery_codes_left(&a.id).await.unwrap(), 0, "the write is gone");
    assert!(store.mail_by_id(&mail.id).await.unwrap().is_none(), "the mail is gone");
    assert_eq!(store.audit_head().await.unwrap().seq, head.seq, "the record is gone");

    let mut tx = store.begin().await.unwrap();
    tx.replace_recovery_codes(&a.id, &digests, NOW).await.unwrap();
    tx.enqueue_mail(&mail).await.unwrap();
    let locked = tx.lock_audit_head().await.unwrap();
    tx.append_audit_record(&record(locked.seq + 1, &locked.hash)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.recovery_codes_left(&a.id).await.unwrap(), 1);
    assert!(store.mail_by_id(&mail.id).await.unwrap().is_some());
    assert_eq!(store.audit_head().await.unwrap().seq, head.seq + 1);

    // A record that does not follow the head is refused (another node appended in between).
    let mut tx = store.begin().await.unwrap();
    let locked = tx.lock_audit_head().await.unwrap();
    let stale = record(locked.seq, "stale");
    assert!(tx.append_audit_record(&stale).await.is_err(), "a record must follow the head");
}

async fn invitations_activate_once(store: &dyn Store) {
    let org = organisation("inv");
    store.create_organisation(&org).await.unwrap();
    let invitation = store::Invitation {
        id: "inv-1".into(),
        organisation_id: org.id.clone(),
        method: store::ActivationMethod::InviteCode,
        email: "Ina@Example.nl".into(),
        email_normalised: "ina@example.nl".into(),
        given_name: "Ina".into(),
        family_name: "Bakker".into(),
        birth_date: None,
        client_number: None,
        secret_digest: "inv-digest-1".into(),
        created_at: NOW,
        expires_at: NOW + 3600,
        used_at: None,
        voided_at: None,
        failures: 0,
        account_id: None,
    };
    in_tx!(store, |tx| tx.create_invitation(&invitation, NOW));
    // A new invitation to the same address voids the open one.
    let second = store::Invitation { id: "inv-2".into(), secret_digest: "inv-digest-2".into(), ..invitation.clone() };
    in_tx!(store, |tx| tx.create_invitation(&second, NOW + 1));
    assert!(store.invitation_by_id("inv-1").await.unwrap().unwrap().voided_at.is_some());
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.activate_with_account("inv-1", &account("acc-i0", "ina0"), NOW + 2).await.unwrap(), "voided");
    drop(tx);
    assert!(
        store.account_by_id(&AccountId("acc-i0".into())).await.unwrap().is_none(),
        "no account without its invitation"
    );
    // The failure cap is exact under concurrency.
    let counts = join_all((0..RACERS).map(|_| store.count_invitation_failure("inv-2", 3))).await;
    assert_eq!(counts.iter().filter(|c| c.as_ref().unwrap().is_some()).count(), 3, "only three failures count");
    store.release_invitation_attempt("inv-2").await.unwrap();
    assert_eq!(store.invitation_by_id("inv-2").await.unwrap().unwrap().failures, 2);
    // Activated once, however many race.
    let activate = |n: usize| async move {
        let mut tx = store.begin().await?;
        let done =
            tx.activate_with_account("inv-2", &account(&format!("acc-i{n}"), &format!("ina{n}")), NOW + 3).await?;
        if done {
            tx.commit().await?;
        }
        Ok::<_, StoreError>(done)
    };
    let wins = join_all((1..=RACERS).map(activate)).await;
    assert_eq!(wins.iter().filter(|w| matches!(w, Ok(true))).count(), 1, "one account per invitation");
    let used = store.invitation_by_id("inv-2").await.unwrap().unwrap();
    assert!(used.used_at.is_some() && used.account_id.is_some());
}

async fn password_resets_once(store: &dyn Store) {
    let a = account("acc-p", "pien");
    store.create_account(&a).await.unwrap();
    let reset = |digest: &str| store::PasswordReset {
        digest: digest.into(),
        account_id: a.id.clone(),
        created_at: NOW,
        expires_at: NOW + 3600,
        used_at: None,
    };
    in_tx!(store, |tx| tx.create_password_reset(&reset("reset-1")));
    in_tx!(store, |tx| tx.create_password_reset(&reset("reset-2")));
    let hash = Secret::new("reset-hash".to_string());
    let use_once = || async {
        let mut tx = store.begin().await?;
        let done = tx.reset_password("reset-1", &hash, NOW + 10).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(done)
    };
    let wins = join_all((0..RACERS).map(|_| use_once())).await;
    assert_eq!(wins.iter().filter(|w| matches!(w, Ok(Some(_)))).count(), 1, "a link works once");
    let after = store.account_by_id(&a.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash.unwrap().expose(), "reset-hash");
    assert!(after.password_via_mail);
    assert!(
        in_tx!(store, |tx| tx.reset_password("reset-2", &hash, NOW + 11)).is_none(),
        "the other links die with the one used"
    );
    in_tx!(store, |tx| tx.create_password_reset(&reset("reset-3")));
    assert!(in_tx!(store, |tx| tx.reset_password("reset-3", &hash, NOW + 3600)).is_none(), "expired");
}

async fn trusted_devices_die_with_the_password(store: &dyn Store) {
    use idp::auth::levels::{Channel, FactorUse, Method};
    let a = account("acc-t", "tess");
    store.create_account(&a).await.unwrap();
    let device = |id: &str| store::TrustedDevice {
        id: id.into(),
        account_id: a.id.clone(),
        token_digest: format!("digest-{id}"),
        label: "Firefox · Linux".into(),
        factor: FactorUse::new(Method::Email, Channel::Email, NOW),
        created_at: NOW,
        expires_at: NOW + 7 * 86_400,
        last_used_at: None,
        revoked_at: None,
    };
    store.add_trusted_device(&device("d1")).await.unwrap();
    store.add_trusted_device(&device("d2")).await.unwrap();
    let found = store.trusted_device_by_digest("digest-d1").await.unwrap().unwrap();
    assert_eq!(found.factor, FactorUse::new(Method::Email, Channel::Email, NOW));
    assert!(store.revoke_trusted_device("d1", &a.id, NOW + 1).await.unwrap());
    assert_eq!(store.trusted_devices(&a.id, NOW + 1).await.unwrap().len(), 1);
    assert!(store.trusted_devices(&a.id, NOW + 8 * 86_400).await.unwrap().is_empty(), "expired");
    store.change_password(&a.id, &Secret::new("new-hash".into()), NOW + 2).await.unwrap();
    assert!(store.trusted_devices(&a.id, NOW + 2).await.unwrap().is_empty(), "a password change revokes all");
}

// ---------------------------------------------------------------------------------------------
// Upgrades: a database written by an older release, then opened by this one.

/// Migrations of `backend` up to `before` (excluded), read from the files the store embeds.
async fn migrations_before(backend: &str, before: i64) -> sqlx::migrate::Migrator {
    let dir = format!("{}/../migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(&dir)).await.expect("migrations");
    let older: Vec<_> = migrator.migrations.iter().filter(|m| m.version < before).cloned().collect();
    migrator.migrations = older.into();
    migrator
}

/// A confidential portal and a public app as registered before 0013 (no `pkce` column).
const CLIENTS_BEFORE_PKCE: [&str; 3] = [
    "INSERT INTO organisations (id, slug, name, created_at) VALUES ('org-oud', 'oud', 'Oud', 1)",
    "INSERT INTO oauth_clients (id, organisation_id, name, kind, secret_digest, redirect_uris, \
     post_logout_redirect_uris, scopes, grant_types, id_token_alg, created_at) VALUES ('portaal-oud', 'org-oud', \
     'Portaal', 'confidential', 'digest', '[\"https://oud.example/cb\"]', '[]', 'openid', \
     '[\"authorization_code\",\"refresh_token\"]', 'ES256', 1)",
    "INSERT INTO oauth_clients (id, organisation_id, name, kind, secret_digest, redirect_uris, \
     post_logout_redirect_uris, scopes, grant_types, id_token_alg, created_at) VALUES ('app-oud', 'org-oud', \
     'App', 'public', NULL, '[\"https://app.example/cb\"]', '[]', 'openid', '[\"authorization_code\"]', 'ES256', 2)",
];

/// An upgrade breaks no portal: confidential clients may still leave PKCE out, public ones
/// still must send it.
async fn pkce_rule_survives_the_upgrade(store: &dyn Store) {
    let portal = store.client_by_id(&ClientId("portaal-oud".into())).await.unwrap().expect("old portal");
    assert_eq!((portal.pkce, portal.requires_pkce()), (PkcePolicy::Optional, false));
    let app = store.client_by_id(&ClientId("app-oud".into())).await.unwrap().expect("old app");
    assert_eq!((app.pkce, app.requires_pkce()), (PkcePolicy::Required, true));
}

mod upgrade {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn sqlite_clients_keep_their_pkce_rule() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrations_before("sqlite", 13).await.run(&pool).await.expect("older migrations");
        for statement in CLIENTS_BEFORE_PKCE {
            sqlx::query(statement).execute(&pool).await.expect(statement);
        }
        pool.close().await;
        let store = store::connect(&url, 2).await.expect("the upgrade applies");
        pkce_rule_survives_the_upgrade(store.as_ref()).await;
    }

    #[tokio::test]
    async fn postgres_clients_keep_their_pkce_rule() {
        let db = crate::helpers::fresh_postgres().await;
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrations_before("postgres", 13).await.run(&pool).await.expect("older migrations");
        for statement in CLIENTS_BEFORE_PKCE {
            sqlx::query(statement).execute(&pool).await.expect(statement);
        }
        pool.close().await;
        let store = store::connect(&db.url, 2).await.expect("the upgrade applies");
        pkce_rule_survives_the_upgrade(store.as_ref()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The start-up backfill of username skeletons (migration 0012). It needs the database itself,
// to make rows as they were before the migration.

/// Runs `sql` on the database at `url`, outside the store.
async fn raw(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
}

async fn stored_skeletons(url: &str) -> Vec<(String, Option<String>)> {
    use sqlx::Connection;
    let sql = "SELECT id, username_skeleton FROM accounts ORDER BY id";
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    }
}

async fn skeletons_are_filled_in_at_start_up(url: &str) {
    use idp::domain::Username;
    let store = store::connect(url, 2).await.unwrap();
    for (id, name) in [("acc-jan", "Jan Jansen"), ("acc-kees", "Kees"), ("acc-piet", "Piet de Vries")] {
        store.create_account(&account(id, name)).await.unwrap();
    }
    drop(store);
    // As before migration 0012: no skeletons, and a look-alike of Jan (Cyrillic а) made back then.
    raw(
        url,
        "UPDATE accounts SET username_skeleton = NULL; \
         UPDATE accounts SET username = 'J\u{430}n Jansen', username_normalised = 'j\u{430}n jansen' \
         WHERE id = 'acc-piet';",
    )
    .await;
    // Every node runs the backfill at start-up; twice changes nothing.
    for _ in 0..2 {
        let store = store::connect(url, 2).await.unwrap();
        drop(store);
        assert_eq!(
            stored_skeletons(url).await,
            vec![
                ("acc-jan".to_string(), Some(Username::skeleton_of("Jan Jansen"))),
                ("acc-kees".to_string(), Some(Username::skeleton_of("Kees"))),
                // The younger of the two look-alikes keeps none, and still loads.
                ("acc-piet".to_string(), None),
            ]
        );
    }
    let store = store::connect(url, 2).await.unwrap();
    let piet = store.account_by_id(&AccountId("acc-piet".into())).await.unwrap().unwrap();
    assert_eq!(piet.username_skeleton, Username::skeleton_of("Jan Jansen"));
    let err = store.create_account(&account("acc-kees-2", "K\u{435}\u{435}s")).await.expect_err("look-alike of Kees");
    assert!(matches!(err, StoreError::Conflict(store::USERNAME_LOOKALIKE)), "{err:?}");
}

mod skeleton_backfill {
    #[tokio::test]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("backfill.db").display());
        super::skeletons_are_filled_in_at_start_up(&url).await;
    }

    #[tokio::test]
    async fn postgres() {
        let db = crate::helpers::fresh_postgres().await;
        super::skeletons_are_filled_in_at_start_up(&db.url).await;
    }
}

/// Who acts for whom is kept with sessions, codes and grants; empty means for oneself.
async fn principals_are_kept(store: &dyn Store) {
    use idp::domain::{Party, Principal};
    let c = chain(store).await;
    let other = account("acc-other", "oma");
    store.create_account(&other).await.unwrap();
    let for_other = Some(Party::Account(other.id.clone()));

    let own = store.session_by_id(&c.session.id).await.unwrap().unwrap();
    assert_eq!(own.acting_for, None);
    assert_eq!(own.principal(), Principal::for_self(&c.session.account_id));

    let mut acting = session("sid-acting", &c.session.account_id);
    acting.token_digest = "cookie-digest-acting".into();
    acting.acting_for = for_other.clone();
    store.create_session(&acting).await.unwrap();
    let read = store.session_by_id(&acting.id).await.unwrap().unwrap();
    assert_eq!(read, acting);
    assert_eq!(read.principal().subject, Party::Account(other.id.clone()));
    assert!(!read.principal().acts_for_self());

    let code = AuthorizationCode { acting_for: for_other.clone(), ..c.code("code-acting", "grant-acting") };
    store.insert_code(&code).await.unwrap();
    assert_eq!(store.code_by_digest("code-acting").await.unwrap().unwrap().acting_for, for_other);

    let grant = Grant { acting_for: for_other.clone(), ..c.grant("grant-acting", None) };
    assert!(store.redeem_code("code-acting", NOW + 5, &grant, None).await.unwrap());
    let stored = grant_of(store, "grant-acting").await.unwrap();
    assert_eq!(stored.acting_for, for_other);
    assert_eq!(stored.principal().unwrap().actor, c.session.account_id);
    assert_eq!(c.machine_grant("grant-m").principal(), None, "a machine grant acts for nobody");
}

/// The outbox hands a due mail to one sender at a time, until its lease ends; sent mail loses its
/// bodies; a failed attempt waits for its next time.
async fn outbox_leases(store: &dyn Store) {
    let first = notice("een@example.nl");
    let second = store::OutboxMail { id: "mail-2".into(), created_at: NOW + 1, ..notice("twee@example.nl") };
    store.enqueue_mail(&first).await.unwrap();
    store.enqueue_mail(&second).await.unwrap();
    // Racing senders: each mail is claimed once.
    let claims = join_all((0..RACERS).map(|_| store.claim_due_mail(NOW, 60, 10))).await;
    let mut ids: Vec<String> = claims.into_iter().flat_map(|c| c.unwrap()).map(|m| m.id).collect();
    ids.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(ids, expected, "every due mail is handed out exactly once");
    assert!(store.claim_due_mail(NOW + 59, 60, 10).await.unwrap().is_empty(), "leased");
    // A lease that ran out (a sender died) frees the mail for another.
    let again = store.claim_due_mail(NOW + 60, 60, 10).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].body_text.expose(), first.body_text.expose(), "bodies kept until sent");

    store.mark_mail_sent(&first.id, NOW + 61).await.unwrap();
    let sent = store.mail_by_id(&first.id).await.unwrap().unwrap();
    assert_eq!(sent.sent_at, Some(NOW + 61));
    assert!(sent.body_text.expose().is_empty() && sent.body_html.expose().is_empty(), "bodies blanked once sent");

    store.retry_mail(&second.id, NOW + 300, "connection refused").await.unwrap();
    let waiting = store.mail_by_id(&second.id).await.unwrap().unwrap();
    assert_eq!((waiting.attempts, waiting.next_attempt_at), (1, NOW + 300));
    assert!(store.claim_due_mail(NOW + 299, 60, 10).await.unwrap().is_empty(), "not before its next attempt");
    let due = store.claim_due_mail(NOW + 300, 60, 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec![second.id.as_str()], "sent mail stays sent");
}

/// An organisation's policy is stored whole and replaced whole.
async fn policies(store: &dyn Store) {
    let org = organisation("pol");
    store.create_organisation(&org).await.unwrap();
    assert_eq!(store.policy(&org.id).await.unwrap(), None);
    let mut policy = store::OrganisationPolicy::default_for(org.id.clone());
    policy.updated_at = NOW;
    store.set_policy(&policy).await.unwrap();
    assert_eq!(store.policy(&org.id).await.unwrap(), Some(policy.clone()));
    let changed = store::OrganisationPolicy {
        activation_method: store::ActivationMethod::LinkBirthdateTemporaryPassword,
        secret_question: true,
        mail_from_name: Some("Zorggroep Pol".into()),
        mail_from_address: Some("post@pol.example".into()),
        portal_url: Some("https://mijn.pol.example".into()),
        invitation_ttl_secs: 7 * 86_400,
        min_level: idp::auth::levels::Level::TwoFactor,
        mailed_token: true,
        trusted_device_days: 30,
        updated_at: NOW + 10,
        ..policy
    };
    store.set_policy(&changed).await.unwrap();
    assert_eq!(store.policy(&org.id).await.unwrap(), Some(changed), "every field replaced");
}
