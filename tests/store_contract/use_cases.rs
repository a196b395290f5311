//! The store contract for what use cases write together: transactions that keep all or nothing,
//! invitations, password resets, the outbox, policies and principals.

use futures::future::join_all;
use idp::domain::{AccountId, Secret};
use idp::store::{self, Store, StoreError};

use super::*;

/// A use case's transaction keeps all or nothing: its writes, its mail and its audit record are
/// gone when it is dropped before commit, and all there after commit.
pub(super) async fn transactions_are_all_or_nothing(store: &dyn Store) {
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

/// `idp-admin`'s writes (`idp::admin`) in a transaction: organisation, policy, client, PKCE,
/// account, keys and the change generations are all gone when it is dropped, all there after
/// commit; conflicts are named as by the plain store methods.
pub(super) async fn admin_writes_are_all_or_nothing(store: &dyn Store) {
    let org = organisation("adm");
    let mut policy = store::OrganisationPolicy::default_for(org.id.clone());
    policy.updated_at = NOW;
    let client = confidential_client("adm-portal", &org);
    let person = account("acc-adm", "admin-made");
    let key = keys::generate(SigningAlg::ES256, NOW, NOW + 3600).unwrap();
    let old_key = keys::generate(SigningAlg::ES256, NOW, NOW).unwrap();
    store.insert_key(&old_key).await.unwrap();
    let generations =
        || async { (store.generation(Cached::Clients).await.unwrap(), store.generation(Cached::Keys).await.unwrap()) };
    let before = generations().await;
    {
        let mut tx = store.begin().await.unwrap();
        write(tx.as_mut(), &org, &policy, &client, &person, &key, &old_key).await;
        // Dropped: rolled back.
    }
    assert!(store.organisation_by_slug("adm").await.unwrap().is_none(), "the organisation is gone");
    assert!(store.policy(&org.id).await.unwrap().is_none(), "the policy is gone");
    assert!(store.client_by_id(&client.id).await.unwrap().is_none(), "the client is gone");
    assert!(store.account_by_id(&person.id).await.unwrap().is_none(), "the account is gone");
    assert_eq!(store.list_keys().await.unwrap(), vec![old_key.clone()], "the keys are as they were");
    assert_eq!(generations().await, before, "no node is told to reload");

    let mut tx = store.begin().await.unwrap();
    write(tx.as_mut(), &org, &policy, &client, &person, &key, &old_key).await;
    tx.commit().await.unwrap();
    assert_eq!(store.organisation_by_slug("adm").await.unwrap(), Some(org.clone()));
    assert_eq!(store.policy(&org.id).await.unwrap(), Some(policy.clone()));
    let stored = store.client_by_id(&client.id).await.unwrap().unwrap();
    assert_eq!(stored, store::Client { pkce: PkcePolicy::Required, ..client.clone() });
    assert_eq!(store.account_by_id(&person.id).await.unwrap(), Some(person.clone()));
    let listed: Vec<_> = store.list_keys().await.unwrap().into_iter().map(|k| (k.kid, k.publish_until)).collect();
    assert_eq!(listed, vec![(old_key.kid.clone(), Some(NOW + 86_400)), (key.kid.clone(), None)]);
    let after = generations().await;
    assert!(after.0 > before.0 && after.1 == before.1 + 1, "nodes are told to reload: {before:?} → {after:?}");

    // Conflicts inside a transaction, as outside (each transaction dropped before the next).
    let mut tx = store.begin().await.unwrap();
    let err = tx.create_organisation(&Organisation { id: OrganisationId("other".into()), ..org.clone() }).await;
    assert!(matches!(err, Err(StoreError::Conflict("organisation"))), "{err:?}");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let err = tx.create_client(&client).await;
    assert!(matches!(err, Err(StoreError::Conflict("client"))), "{err:?}");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let err = tx.create_account(&account("acc-adm-2", "Admin-Made")).await;
    assert!(matches!(err, Err(StoreError::Conflict("username"))), "{err:?}");
}

/// Every write `admin_writes_are_all_or_nothing` makes, in `tx`.
async fn write(
    tx: &mut dyn store::Tx,
    org: &Organisation,
    policy: &store::OrganisationPolicy,
    client: &Client,
    person: &Account,
    key: &store::SigningKey,
    old_key: &store::SigningKey,
) {
    tx.create_organisation(org).await.unwrap();
    tx.set_policy(policy).await.unwrap();
    tx.create_client(client).await.unwrap();
    assert!(tx.set_client_pkce(&client.id, PkcePolicy::Required).await.unwrap());
    assert!(!tx.set_client_pkce(&ClientId("no-such-client".into()), PkcePolicy::Required).await.unwrap());
    tx.create_account(person).await.unwrap();
    tx.insert_key(key).await.unwrap();
    tx.set_key_publish_until(&old_key.kid, NOW + 86_400).await.unwrap();
    tx.bump_generation(Cached::Clients).await.unwrap();
    tx.bump_generation(Cached::Keys).await.unwrap();
}

pub(super) async fn invitations_activate_once(store: &dyn Store) {
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

pub(super) async fn password_resets_once(store: &dyn Store) {
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

/// Who acts for whom is kept with sessions, codes and grants; empty means for oneself.
pub(super) async fn principals_are_kept(store: &dyn Store) {
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

    let grant = Grant { acting_for: for_other.clone(), ..c.grant("grant-acting", None) };
    assert_eq!(super::redeem(store, &grant, None).await.unwrap(), CodeGrant::Created);
    let stored = grant_of(store, "grant-acting").await.unwrap();
    assert_eq!(stored.acting_for, for_other);
    assert_eq!(stored.principal().unwrap().actor, c.session.account_id);
    assert_eq!(c.machine_grant("grant-m").principal(), None, "a machine grant acts for nobody");
}

/// The outbox hands a due mail to one sender at a time, until its lease ends; sent mail loses its
/// bodies; a failed attempt waits for its next time.
pub(super) async fn outbox_leases(store: &dyn Store) {
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
pub(super) async fn policies(store: &dyn Store) {
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
    let generation = store.generation(Cached::Clients).await.unwrap();
    store.set_policy(&changed).await.unwrap();
    assert_eq!(store.policy(&org.id).await.unwrap(), Some(changed), "every field replaced");
    // Nodes keep policies with the clients: every change tells them to read both again.
    assert!(store.generation(Cached::Clients).await.unwrap() > generation);
}
