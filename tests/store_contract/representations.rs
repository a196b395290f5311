//! Care clients and representations (docs/representation.md): who may act for whom, kept with
//! its history; ending a representation revokes the representative's grants for that client.

use idp::domain::representation::{Kind, Role, Sections, Status};
use idp::domain::{CareClientId, Party, RepresentationId, Subject};
use idp::store::{Cached, CareClient, Grant, Representation, Store, StoreError};

use super::{account, chain, grant_of, organisation, redeem, CodeGrant, NOW};

fn care_client(id: &str, org: &idp::store::Organisation, account: Option<&idp::domain::AccountId>) -> CareClient {
    CareClient {
        id: CareClientId(id.into()),
        organisation_id: org.id.clone(),
        client_number: format!("nr-{id}"),
        subject: Subject(format!("sub-{id}")),
        given_name: "Oma".into(),
        family_name: "Jansen".into(),
        birth_date: Some("1940-01-02".into()),
        account_id: account.cloned(),
        created_at: NOW,
    }
}

fn representation(id: &str, client: &CareClient, account: &idp::domain::AccountId) -> Representation {
    Representation {
        id: RepresentationId(id.into()),
        care_client_id: client.id.clone(),
        account_id: account.clone(),
        kind: Kind::Contact,
        role: Role::Child,
        sections: Sections::parse("messages appointments").unwrap(),
        status: Status::Active,
        basis: "brief 2026-001".into(),
        granted_by: "operator:tester".into(),
        granted_at: NOW,
        ends_at: Some(NOW + 86_400),
        ended_at: None,
        minor_consent_at: None,
        version: 1,
    }
}

async fn write(store: &dyn Store, care: &[&CareClient], reps: &[&Representation]) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    for c in care {
        tx.create_care_client(c).await?;
    }
    for r in reps {
        tx.create_representation(r).await?;
    }
    tx.commit().await
}

/// A care client is not an account; an account sees its own record and the clients it
/// represents at one organisation, nobody else's, and at most one live representation per client.
pub(crate) async fn care_clients_and_representations(store: &dyn Store) {
    let c = chain(store).await;
    let org = organisation("zorg");
    let other_org = organisation("elders");
    store.create_organisation(&other_org).await.unwrap();
    let stranger = account("acc-stranger", "vreemde");
    store.create_account(&stranger).await.unwrap();

    let own = care_client("own", &org, Some(&c.account.id));
    let oma = care_client("oma", &org, None);
    let elsewhere = care_client("elsewhere", &other_org, None);
    let strangers = care_client("strangers", &org, None);
    let to_oma = representation("rep-oma", &oma, &c.account.id);
    let to_elsewhere = representation("rep-elsewhere", &elsewhere, &c.account.id);
    let strangers_rep = representation("rep-stranger", &strangers, &stranger.id);
    write(store, &[&own, &oma, &elsewhere, &strangers], &[&to_oma, &to_elsewhere, &strangers_rep]).await.unwrap();

    assert_eq!(store.care_client_by_id(&oma.id).await.unwrap(), Some(oma.clone()));
    assert_eq!(store.care_client_by_number(&org.id, "nr-oma").await.unwrap(), Some(oma.clone()));
    assert_eq!(store.care_client_by_number(&other_org.id, "nr-oma").await.unwrap(), None);

    let choices = store.choices_at(&c.account.id, &org.id).await.unwrap();
    let digest = c.session.token_digest.clone();
    let by_cookie = store.session_by_token_digest(&digest).await.unwrap().unwrap();
    assert!(by_cookie.might_represent, "an own record counts too");
    let seen: Vec<(&str, bool, Option<&str>)> = choices
        .iter()
        .map(|ch| (ch.client.id.as_str(), ch.own, ch.representation.as_ref().map(|r| r.id.as_str())))
        .collect();
    assert_eq!(seen, vec![("own", true, None), ("oma", false, Some("rep-oma"))], "own first; not other organisations'");
    assert_eq!(choices[1].representation.as_ref(), Some(&to_oma));
    let theirs = store.choices_at(&stranger.id, &org.id).await.unwrap();
    let theirs: Vec<&str> = theirs.iter().map(|ch| ch.client.id.as_str()).collect();
    assert_eq!(theirs, vec!["strangers"], "each account sees its own clients only");
    assert!(store.choices_at(&stranger.id, &other_org.id).await.unwrap().is_empty());

    // The same number twice at one organisation; a second live representation of one pair.
    let twin = CareClient { id: CareClientId("twin".into()), subject: Subject("sub-twin".into()), ..oma.clone() };
    assert!(matches!(write(store, &[&twin], &[]).await, Err(StoreError::Conflict("client_number"))));
    let again = representation("rep-oma-2", &oma, &c.account.id);
    assert!(matches!(write(store, &[], &[&again]).await, Err(StoreError::Conflict("representation"))));
    assert_eq!(store.representation_by_id(&again.id).await.unwrap(), None, "nothing half-written");
    assert!(store.representation_history(&again.id).await.unwrap().is_empty());
    // One own record per account and organisation.
    let second_own = CareClient {
        id: CareClientId("own-2".into()),
        client_number: "nr-own-2".into(),
        subject: Subject("sub-own-2".into()),
        ..own.clone()
    };
    assert!(matches!(write(store, &[&second_own], &[]).await, Err(StoreError::Conflict("own_record"))));

    assert_eq!(store.live_representation(&c.account.id, &oma.id).await.unwrap(), Some(to_oma.clone()));
    let history = store.representation_history(&to_oma.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].version, history[0].change.as_str()), (1, "granted"));
    assert_eq!(history[0].sections, to_oma.sections);
}

/// Ending a representation keeps the change in its history and revokes, in the same transaction,
/// every grant its account holds for that client, and nothing else.
pub(crate) async fn ending_a_representation_revokes_its_grants(store: &dyn Store) {
    let c = chain(store).await;
    let org = organisation("zorg");
    let might = || async { store.session_by_id(&c.session.id).await.unwrap().unwrap().might_represent };
    assert!(!might().await, "nobody to act for: known with the session");
    let oma = care_client("oma", &org, None);
    let to_oma = representation("rep-oma", &oma, &c.account.id);
    write(store, &[&oma], &[&to_oma]).await.unwrap();
    assert!(might().await);
    let for_oma = Grant { acting_for: Some(Party::CareClient(oma.id.clone())), ..c.grant("g-oma", None) };
    let own = c.grant("g-own", None);
    assert_eq!(redeem(store, &for_oma, None).await.unwrap(), CodeGrant::Created);
    assert_eq!(redeem(store, &own, None).await.unwrap(), CodeGrant::Created);
    let revocations = store.generation(Cached::Revocations).await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let ended =
        tx.end_representation(&to_oma.id, Status::Revoked, "revoked", "operator:tester", NOW + 50).await.unwrap();
    // Rolled back: nothing changed.
    drop(tx);
    assert!(ended.is_some());
    assert_eq!(store.representation_by_id(&to_oma.id).await.unwrap().unwrap().status, Status::Active);
    assert_eq!(grant_of(store, "g-oma").await.unwrap().revoked_at, None);

    let mut tx = store.begin().await.unwrap();
    let ended =
        tx.end_representation(&to_oma.id, Status::Revoked, "revoked", "operator:tester", NOW + 50).await.unwrap();
    tx.commit().await.unwrap();
    let ended = ended.expect("it was live");
    assert_eq!((ended.status, ended.version, ended.ended_at), (Status::Revoked, 2, Some(NOW + 50)));
    assert_eq!(grant_of(store, "g-oma").await.unwrap().revoked_at, Some(NOW + 50));
    assert_eq!(grant_of(store, "g-own").await.unwrap().revoked_at, None, "the account's own grant stays");
    assert!(store.generation(Cached::Revocations).await.unwrap() > revocations, "nodes forget verified tokens");
    assert_eq!(store.live_representation(&c.account.id, &oma.id).await.unwrap(), None);
    assert!(!might().await, "an ended representation counts no more");
    let history = store.representation_history(&to_oma.id).await.unwrap();
    let changes: Vec<(i64, &str, Status)> = history.iter().map(|h| (h.version, h.change.as_str(), h.status)).collect();
    assert_eq!(changes, vec![(1, "granted", Status::Active), (2, "revoked", Status::Revoked)]);
    assert!(store.choices_at(&c.account.id, &org.id).await.unwrap().is_empty());

    // Ended once: a second end finds nothing live, and a new representation may follow.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.end_representation(&to_oma.id, Status::Revoked, "revoked", "x", NOW + 60).await.unwrap(), None);
    drop(tx);
    let renewed = representation("rep-oma-2", &oma, &c.account.id);
    write(store, &[], &[&renewed]).await.unwrap();
}

/// Ending a session queues one back-channel logout per portal (with a URI) that had a grant in
/// it, in the same transaction, once; the outbox leases, retries and gives up like mail.
pub(crate) async fn back_channel_logouts_are_queued_once(store: &dyn Store) {
    let c = chain(store).await;
    let org = organisation("zorg");
    let mut listening = super::confidential_client("luisterend", &org);
    listening.backchannel_logout_uri = Some(idp::domain::RedirectUri::parse("https://luisterend.example/bcl").unwrap());
    store.create_client(&listening).await.unwrap();
    let deaf_grant = c.grant("g-deaf", None);
    let heard_grant = Grant { client_id: listening.id.clone(), ..c.grant("g-heard", None) };
    let second = Grant { client_id: listening.id.clone(), ..c.grant("g-heard-2", None) };
    for g in [&deaf_grant, &heard_grant, &second] {
        assert_eq!(redeem(store, g, None).await.unwrap(), CodeGrant::Created);
    }
    let mut tx = store.begin().await.unwrap();
    assert!(tx.end_session(&c.session.id, NOW + 100).await.unwrap());
    drop(tx);
    assert!(store.logouts_of_session(&c.session.id).await.unwrap().is_empty(), "rolled back with the end");
    let mut tx = store.begin().await.unwrap();
    assert!(tx.end_session(&c.session.id, NOW + 100).await.unwrap());
    tx.commit().await.unwrap();
    let queued = store.logouts_of_session(&c.session.id).await.unwrap();
    assert_eq!(queued.len(), 1, "one per session and listening portal");
    let q = &queued[0];
    assert_eq!((q.client_id.as_str(), q.subject.as_str()), ("luisterend", c.account.subject.as_str()));
    assert_eq!((q.uri.as_str(), q.next_attempt_at, q.attempts), ("https://luisterend.example/bcl", Some(NOW + 100), 0));

    // Leased to one sender; retried later; given up; or sent.
    let claimed = store.claim_due_logouts(NOW + 100, 60, 5).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(store.claim_due_logouts(NOW + 100, 60, 5).await.unwrap().is_empty(), "leased");
    store.retry_logout(&q.id, Some(NOW + 200), "503").await.unwrap();
    assert!(store.claim_due_logouts(NOW + 150, 60, 5).await.unwrap().is_empty(), "not due");
    assert_eq!(store.claim_due_logouts(NOW + 200, 60, 5).await.unwrap()[0].attempts, 1);
    store.mark_logout_sent(&q.id, NOW + 200).await.unwrap();
    assert!(store.claim_due_logouts(NOW + 10_000, 60, 5).await.unwrap().is_empty(), "sent once");
    assert_eq!(store.logouts_of_session(&c.session.id).await.unwrap()[0].sent_at, Some(NOW + 200));
}

/// The other ways sessions end queue notices too: an operator's reset of an account's factors
/// (every live session), a representation's end (that representative's grants for the client),
/// and a session whose grants moved to a new sign-in names the sid the portal saw.
pub(crate) async fn every_end_queues_its_logouts(store: &dyn Store) {
    let c = chain(store).await;
    let org = organisation("zorg");
    let mut listening = super::confidential_client("luisterend", &org);
    listening.backchannel_logout_uri = Some(idp::domain::RedirectUri::parse("https://luisterend.example/bcl").unwrap());
    store.create_client(&listening).await.unwrap();
    let in_session = |id: &str, session: &str| Grant {
        client_id: listening.id.clone(),
        session_id: Some(idp::domain::SessionId(session.into())),
        ..c.grant(id, None)
    };

    // A new sign-in of the same person moves the grants; the end names the first sid.
    let mut second = super::session("sid-2", &c.account.id);
    second.token_digest = "cookie-digest-2".into();
    store.create_session(&second).await.unwrap();
    assert_eq!(redeem(store, &in_session("g-1", "sid-1"), None).await.unwrap(), CodeGrant::Created);
    let mut tx = store.begin().await.unwrap();
    tx.move_grants(&c.session.id, &second.id).await.unwrap();
    assert!(tx.end_session(&c.session.id, NOW + 50).await.unwrap());
    tx.commit().await.unwrap();
    assert!(store.logouts_of_session(&c.session.id).await.unwrap().is_empty(), "its grants moved on");
    let mut tx = store.begin().await.unwrap();
    assert!(tx.end_session(&second.id, NOW + 60).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.logouts_of_session(&c.session.id).await.unwrap().len(), 1, "the sid the portal saw");

    // An operator's reset ends every live session: each listening portal hears of its own.
    let mut third = super::session("sid-3", &c.account.id);
    third.token_digest = "cookie-digest-3".into();
    store.create_session(&third).await.unwrap();
    assert_eq!(redeem(store, &in_session("g-3", "sid-3"), None).await.unwrap(), CodeGrant::Created);
    let mut tx = store.begin().await.unwrap();
    tx.reset_factors(&c.account.id, None, NOW + 70).await.unwrap();
    tx.commit().await.unwrap();
    let queued = store.logouts_of_session(&third.id).await.unwrap();
    assert_eq!((queued.len(), queued[0].created_at), (1, NOW + 70));

    // A representation's end: the representative's grants for that client, in a live session.
    let mut fourth = super::session("sid-4", &c.account.id);
    fourth.token_digest = "cookie-digest-4".into();
    store.create_session(&fourth).await.unwrap();
    let oma = care_client("oma", &org, None);
    let to_oma = representation("rep-oma", &oma, &c.account.id);
    write(store, &[&oma], &[&to_oma]).await.unwrap();
    let for_oma = Grant { acting_for: Some(Party::CareClient(oma.id.clone())), ..in_session("g-4", "sid-4") };
    assert_eq!(redeem(store, &for_oma, None).await.unwrap(), CodeGrant::Created);
    let mut tx = store.begin().await.unwrap();
    tx.end_representation(&to_oma.id, Status::Revoked, "revoked", "x", NOW + 80).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.logouts_of_session(&fourth.id).await.unwrap().len(), 1);
    // While it waits, the session's own end adds nothing; once sent, a later end queues anew.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.end_session(&fourth.id, NOW + 90).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.logouts_of_session(&fourth.id).await.unwrap().len(), 1, "one waiting per sid and portal");
}
