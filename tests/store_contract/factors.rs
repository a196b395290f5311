//! The store contract for second factors, recovery codes and trusted devices.

use futures::future::join_all;
use idp::domain::{AccountId, Secret};
use idp::store::{self, Store, StoreError};

use super::*;

// ---------------------------------------------------------------------------------------------
// Second factors.

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

pub(super) async fn factors_and_totp_steps(store: &dyn Store) {
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

pub(super) async fn recovery_codes_once(store: &dyn Store) {
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

pub(super) async fn trusted_devices_die_with_the_password(store: &dyn Store) {
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
