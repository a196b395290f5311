//! The storage contract: every check below runs, unchanged, against SQLite (a temporary file)
//! and PostgreSQL (a fresh database on the local server; the PostgreSQL tests fail, never skip,
//! when it is not running). Test names: `store_contract::{sqlite,postgres}::<check>`.
//!
//! This file holds the backends, the fixtures and the checks of sessions, codes and grants;
//! `factors.rs` the second factors; `use_cases.rs` what use cases write together (transactions,
//! invitations, resets, the outbox, policies, principals); `upgrades.rs` databases of older releases.

use std::sync::Arc;

mod factors;
mod representations;
mod upgrades;
mod use_cases;

use factors::*;
use representations::*;
use use_cases::*;

use futures::future::join_all;
use idp::domain::{AccountId, ClientId, GrantId, OrganisationId, RedirectUri, Scopes, Secret, SessionId, Subject};
use idp::oidc::keys;
use idp::store::{
    self, Account, Cached, Client, ClientKind, CodeGrant, Grant, GrantType, Organisation, PkcePolicy, RefreshToken,
    Session, SigningAlg, Store, StoreError,
};

const NOW: i64 = 1_900_000_000;
/// Enough connections that the concurrency checks really run in parallel.
const CONNECTIONS: u32 = 12;
const RACERS: usize = 10;
/// Rounds of a sign-out racing a code redemption.
const SIGN_OUT_RACES: usize = 100;

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
    code_grants_once,
    code_grant_is_atomic,
    code_grant_races,
    code_grant_refused_once_the_session_ended,
    sign_out_racing_a_redemption_leaves_no_live_grant,
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
    admin_writes_are_all_or_nothing,
    invitations_activate_once,
    password_resets_once,
    principals_are_kept,
    outbox_leases,
    policies,
    care_clients_and_representations,
    ending_a_representation_revokes_its_grants,
    back_channel_logouts_are_queued_once,
    every_end_queues_its_logouts,
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
        backchannel_logout_uri: None,
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
        might_represent: false,
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
        backchannel_logout_uri: None,
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

/// Creates a code's grant in a transaction of its own, committed only when it was created.
async fn redeem(store: &dyn Store, grant: &Grant, refresh: Option<&RefreshToken>) -> Result<CodeGrant, StoreError> {
    let mut tx = store.begin().await?;
    let made = tx.grant_for_code(grant, refresh).await?;
    if made == CodeGrant::Created {
        tx.commit().await?;
    }
    Ok(made)
}

async fn code_grants_once(store: &dyn Store) {
    let c = chain(store).await;
    let grant = c.grant("grant-1", None);
    let rt = refresh("rt-1", &grant.id);
    assert_eq!(redeem(store, &grant, Some(&rt)).await.unwrap(), CodeGrant::Created);
    assert_eq!(grant_of(store, "grant-1").await, Some(grant.clone()));
    assert_eq!(token_of(store, "rt-1").await, Some(rt.clone()));

    // The same code again (its grant's id was chosen with it): nothing of the second is stored.
    let replay = Grant { created_at: NOW + 6, ..grant.clone() };
    let rt2 = refresh("rt-2", &replay.id);
    assert_eq!(redeem(store, &replay, Some(&rt2)).await.unwrap(), CodeGrant::Exists);
    assert_eq!(token_of(store, "rt-2").await, None);
    assert_eq!(grant_of(store, "grant-1").await, Some(grant.clone()), "the first grant is untouched");
    // Without a refresh token (no offline_access) only the grant is created.
    assert_eq!(redeem(store, &c.grant("grant-4", None), None).await.unwrap(), CodeGrant::Created);
    assert!(grant_of(store, "grant-4").await.is_some());

    // Also once its session has ended (the code comes back after a sign-out): still a reuse.
    assert!(store.end_session(&c.session.id, NOW + 7).await.unwrap());
    assert_eq!(redeem(store, &replay, None).await.unwrap(), CodeGrant::Exists);
}

async fn code_grant_is_atomic(store: &dyn Store) {
    let c = chain(store).await;
    store.create_grant(&c.grant("grant-taken", None), Some(&refresh("rt-taken", &gid("grant-taken")))).await.unwrap();

    // The refresh token cannot be stored (digest taken): the grant is not stored either.
    let grant = c.grant("grant-1", None);
    let err = redeem(store, &grant, Some(&refresh("rt-taken", &grant.id))).await.expect_err("refresh digest clash");
    assert!(matches!(err, StoreError::Conflict(_)), "refresh digest clash: {err:?}");
    assert_eq!(grant_of(store, "grant-1").await, None);

    // And it is still made, once.
    assert_eq!(redeem(store, &grant, Some(&refresh("rt-1", &grant.id))).await.unwrap(), CodeGrant::Created);
    assert_eq!(grant_of(store, "grant-1").await, Some(grant));
}

async fn code_grant_races(store: &dyn Store) {
    let c = chain(store).await;
    for round in 0..3 {
        let grant = c.grant(&format!("grant-{round}"), None);
        let tokens: Vec<RefreshToken> = (0..RACERS).map(|i| refresh(&format!("rt-{round}-{i}"), &grant.id)).collect();

        let results = join_all(tokens.iter().map(|t| redeem(store, &grant, Some(t)))).await;
        let results: Vec<CodeGrant> =
            results.into_iter().map(|r| r.expect("a losing redemption is `Exists`, not an error")).collect();
        assert_eq!(results.iter().filter(|&&r| r == CodeGrant::Created).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().all(|&r| r != CodeGrant::SessionEnded), "round {round}: {results:?}");
        let winner = results.iter().position(|&r| r == CodeGrant::Created).unwrap();

        assert_eq!(grant_of(store, grant.id.as_str()).await.as_ref(), Some(&grant), "round {round}");
        for (i, t) in tokens.iter().enumerate() {
            let token = token_of(store, &t.digest).await;
            if i == winner {
                assert_eq!(token.as_ref(), Some(t), "round {round}: the winner's refresh token");
            } else {
                assert_eq!(token, None, "round {round}: loser {i} created a refresh token");
            }
        }
    }
}

/// A code's grant is made only while its session lives: no grant outlives the session it was
/// issued under.
async fn code_grant_refused_once_the_session_ended(store: &dyn Store) {
    let c = chain(store).await;
    assert!(store.end_session(&c.session.id, NOW + 20).await.unwrap());
    let grant = c.grant("grant-after", None);
    let rt = refresh("rt-after", &grant.id);
    assert_eq!(redeem(store, &grant, Some(&rt)).await.unwrap(), CodeGrant::SessionEnded);
    assert_eq!(grant_of(store, "grant-after").await, None);
    assert_eq!(token_of(store, "rt-after").await, None);
    let ended = store.session_by_id(&c.session.id).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(NOW + 20), "a refused redemption leaves the session as it was");

    // Every session of the account ending at once (a factor reset; a password reset does the
    // same) refuses the codes of each.
    let other = session("sid-2", &c.account.id);
    store.create_session(&other).await.unwrap();
    in_tx!(store, |tx| tx.reset_factors(&c.account.id, None, NOW + 30));
    let g = c.grant("grant-other", Some(&other.id));
    assert_eq!(redeem(store, &g, None).await.unwrap(), CodeGrant::SessionEnded);
    assert_eq!(grant_of(store, "grant-other").await, None);

    // A live session's code still makes its grant, and the session row reads as before.
    let live = session("sid-3", &c.account.id);
    store.create_session(&live).await.unwrap();
    assert_eq!(redeem(store, &c.grant("grant-live", Some(&live.id)), None).await.unwrap(), CodeGrant::Created);
    assert!(grant_of(store, "grant-live").await.is_some());
    assert_eq!(store.session_by_id(&live.id).await.unwrap(), Some(live));
}

/// A sign-out and the redemption of one of its session's codes, at the same moment, each in its
/// own transaction as the use cases run them (`auth::session::end`, `oidc::token`): whichever
/// commits first, the session ends and no grant of it stays live. (PostgreSQL's READ COMMITTED
/// once let the redemption's grant slip past the sign-out's revocation.)
async fn sign_out_racing_a_redemption_leaves_no_live_grant(store: &dyn Store) {
    let c = chain(store).await;
    let (mut refused, mut revoked_after) = (0, 0);
    for round in 0..SIGN_OUT_RACES {
        let s = session(&format!("sid-race-{round}"), &c.account.id);
        store.create_session(&s).await.unwrap();
        let grant_id = format!("grant-race-{round}");
        let grant = c.grant(&grant_id, Some(&s.id));
        let rt = refresh(&format!("rt-race-{round}"), &grant.id);

        let redeem = async { Ok::<bool, StoreError>(redeem(store, &grant, Some(&rt)).await? == CodeGrant::Created) };
        let sign_out = async {
            let mut tx = store.begin().await?;
            let ended = tx.end_session(&s.id, NOW + 5).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(ended)
        };
        let (won, ended) = tokio::join!(redeem, sign_out);
        let won = won.unwrap_or_else(|e| panic!("round {round}: the redemption failed: {e:?}"));
        assert!(ended.unwrap_or_else(|e| panic!("round {round}: the sign-out failed: {e:?}")), "round {round}");

        let session = store.session_by_id(&s.id).await.unwrap().unwrap();
        assert_eq!(session.ended_at, Some(NOW + 5), "round {round}: the session ended");
        match grant_of(store, &grant_id).await {
            Some(g) => {
                assert!(won, "round {round}: a grant without a redemption");
                assert!(g.revoked_at.is_some(), "round {round}: the session ended and its grant is live");
                revoked_after += 1;
            }
            None => {
                assert!(!won, "round {round}: redeemed, but no grant");
                refused += 1;
            }
        }
    }
    eprintln!("sign-out vs redemption: {revoked_after} redeemed then revoked, {refused} refused");
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

    assert!(store.revoke_grant(&o.id, NOW + 200).await.unwrap(), "a live grant is revoked");
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 2);
    let revoked = grant_of(store, "grant-o").await.unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 200));
    assert!(!revoked.is_active(NOW + 201));
    assert_eq!(grant_of(store, "grant-m").await.unwrap().revoked_at, None, "only the named grant");

    // Revoking again (or a whole session again) never un-revokes; a grant revoked before, or
    // unknown, reports that nothing changed and announces nothing.
    assert!(!store.revoke_grant(&o.id, NOW + 300).await.unwrap(), "revoked before");
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 2, "nothing to announce");
    store.end_session(&c.session.id, NOW + 300).await.unwrap();
    assert_eq!(grant_of(store, "grant-o").await.unwrap().revoked_at, Some(NOW + 200));
    assert!(grant_of(store, "grant-a").await.unwrap().revoked_at.is_some());
    assert!(!store.revoke_grant(&gid("grant-none"), NOW + 300).await.unwrap(), "unknown");
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
    assert!(store.revoke_access_token("jti-1", NOW + 300).await.unwrap());
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 1, "announced");
    let again = store.revoke_access_token("jti-1", NOW + 300).await.expect("revoking twice is fine (RFC 7009 §2.2)");
    assert!(!again, "the second time changes nothing");
    assert_eq!(store.generation(Cached::Revocations).await.unwrap(), before + 1, "and announces nothing");
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

fn notice(to: &str) -> store::OutboxMail {
    store::OutboxMail::queued(
        None,
        to.into(),
        ("Zorg".into(), "zorg@example.nl".into()),
        ("s".into(), "t".into(), "h".into()),
        NOW,
    )
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
pub(crate) use in_tx;
