//! Journey B: the activation link, the birth date, then a second mail with the portal address,
//! the login name and a temporary password, which the first sign-in replaces.

use std::net::IpAddr;

use rand::rngs::OsRng;
use rand::Rng;
use serde::Serialize;

use super::ActivationError;
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::{BirthDate, Secret, Username};
use crate::store::{
    ActivationMethod, Invitation, OrganisationPolicy, OutboxMail, Store, StoreError, MAX_INVITATION_FAILURES,
};
use crate::ui::Locale;

/// The open journey-B invitation a link token belongs to.
pub async fn open(store: &dyn Store, token: &str, now: UnixTime) -> Result<Option<Invitation>, StoreError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let invitation = store.invitation_by_secret(&crypto::token_digest(token)).await?;
    Ok(invitation.filter(|i| i.method == ActivationMethod::LinkBirthdateTemporaryPassword && i.is_open(now)))
}

#[derive(Debug)]
pub enum Activation {
    /// The account exists; the login mail is queued.
    Activated,
    /// Wrong birth date, or the invitation is no longer open (the answer does not say which).
    Refused,
    /// Not a date in a form we read; not counted as a try.
    BadFormat,
    /// Too many wrong answers from this address ([`answer`] only): nothing was checked.
    Paused,
}

/// The link's page: whether its token opens an invitation now.
pub async fn shown(deps: &crate::app::Deps, token: &str) -> Result<bool, StoreError> {
    Ok(open(deps.store.as_ref(), token, deps.clock.unix()).await?.is_some())
}

/// The birth date, answered on the link's page from `ip`: [`activate`], with wrong answers
/// counted per address too.
pub async fn answer(
    deps: &crate::app::Deps,
    ip: IpAddr,
    token: &str,
    birth_date: &str,
) -> Result<Activation, ActivationError> {
    if super::paused(deps, ip).await? {
        return Ok(Activation::Paused);
    }
    let mailing = super::Mailing { templates: &deps.mail_templates, config: &deps.config, issuer: &deps.issuer };
    let activation = activate(deps.activation(), mailing, token, birth_date, deps.clock.unix()).await?;
    if let Activation::Refused = activation {
        super::count_failure(deps, ip).await;
    }
    Ok(activation)
}

/// Letters and digits without look-alikes, for a password someone types from a mail.
const TEMPORARY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn temporary_password() -> String {
    (0..14).map(|_| TEMPORARY_ALPHABET[OsRng.gen_range(0..TEMPORARY_ALPHABET.len())] as char).collect()
}

#[derive(Serialize)]
struct LoginMail<'a> {
    given_name: &'a str,
    organisation: &'a str,
    portal_url: &'a str,
    login: &'a str,
    password: &'a str,
}

/// Checks the birth date; on success creates the account (with a temporary password that the
/// first sign-in replaces), uses the invitation and queues the login mail, in one transaction.
pub async fn activate(
    deps: super::Deps<'_>,
    mailing: super::Mailing<'_>,
    token: &str,
    birth_date: &str,
    now: UnixTime,
) -> Result<Activation, ActivationError> {
    let super::Deps { store, audit } = deps;
    let super::Mailing { templates, config, issuer } = mailing;
    let Some(given) = BirthDate::parse(birth_date) else { return Ok(Activation::BadFormat) };
    let Some(invitation) = open(store, token, now).await? else { return Ok(Activation::Refused) };
    // Take one of the five attempts atomically before comparing (see `account::check_code`).
    match store.count_invitation_failure(&invitation.id, MAX_INVITATION_FAILURES).await? {
        None => return Ok(Activation::Refused),
        Some(n) if n == MAX_INVITATION_FAILURES => {
            tracing::warn!(invitation = %invitation.id, "invitation locked after too many wrong birth dates")
        }
        Some(_) => {}
    }
    let expected = invitation.birth_date.as_deref().unwrap_or_default();
    if !crypto::constant_time_eq(given.iso().as_bytes(), expected.as_bytes()) {
        return Ok(Activation::Refused);
    }
    store.release_invitation_attempt(&invitation.id).await?;
    let org = store.list_organisations().await?.into_iter().find(|o| o.id == invitation.organisation_id);
    let org_name = org.map(|o| o.name).unwrap_or_default();
    let policy = store
        .policy(&invitation.organisation_id)
        .await?
        .unwrap_or_else(|| OrganisationPolicy::default_for(invitation.organisation_id.clone()));
    // The login name is the e-mail address; should it be taken, a number makes it unique.
    for attempt in 0..5 {
        let login = if attempt == 0 {
            invitation.email.clone()
        } else {
            format!("{}-{}", invitation.email, OsRng.gen_range(10..100))
        };
        let Ok(username) = Username::parse(&login) else {
            return Err(ActivationError::Invalid("the e-mail address cannot be a login name".into()));
        };
        let password = temporary_password();
        let hash = crate::auth::password::hash(Secret::new(password.clone()))
            .await
            .map_err(|e| ActivationError::Invalid(e.to_string()))?;
        let account = super::account_for(&invitation, &username, hash, true, now);
        let portal_url = policy.portal_url.clone().unwrap_or_else(|| issuer.to_string());
        let context = LoginMail {
            given_name: &account.given_name,
            organisation: &org_name,
            portal_url: &portal_url,
            login: &account.username,
            password: &password,
        };
        let sender = (
            policy.mail_from_name.clone().unwrap_or_else(|| org_name.clone()),
            policy.mail_from_address.clone().unwrap_or_else(|| config.mail.from_address.clone()),
        );
        let rendered = templates.render("account-activated", Locale::Nl, &context)?;
        let mail = OutboxMail::queued(
            Some(invitation.organisation_id.clone()),
            invitation.email.clone(),
            sender,
            rendered,
            now,
        );
        let mut tx = store.begin().await?;
        match tx.activate_with_account(&invitation.id, &account, now).await {
            Ok(true) => {
                audit.commit(tx, Some(&mail), &super::activated(&account, &invitation), now).await?;
                return Ok(Activation::Activated);
            }
            Ok(false) => return Ok(Activation::Refused),
            Err(StoreError::Conflict("username" | crate::store::USERNAME_LOOKALIKE)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ActivationError::Invalid("no free login name".into()))
}
