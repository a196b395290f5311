//! "Wachtwoord vergeten?": a single-use link by mail (valid one hour), then a new password under
//! the organisation's rules. The answer to a request never tells whether the address is known.
//! Setting the new password ends the account's sessions (and their grants) and mails a notice.
//! A reset never signs anyone in: the next sign-in goes through every factor the account has.

use serde::Serialize;

use crate::activation::account::Problems;
use crate::activation::normalise_email;
use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::auth::password;
use crate::auth::password_rules::{birth_date_forms, PasswordRules};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::Secret;
use crate::mail::MailError;
use crate::store::{Account, OutboxMail, PasswordReset, StoreError};
use crate::ui::Locale;

/// How long a reset link works.
pub const RESET_TTL_SECS: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("password hashing failed")]
    Hash,
}

#[derive(Serialize)]
struct ResetMail<'a> {
    given_name: &'a str,
    username: &'a str,
    link: String,
}

async fn outgoing(
    state: &AppState,
    account: &Account,
    rendered: (String, String, String),
    now: UnixTime,
) -> Result<OutboxMail, RecoveryError> {
    Ok(crate::mail::for_account(state.store.as_ref(), &state.config.mail, account, rendered, now).await?)
}

/// Mails a reset link to every account with this address (a family may share one). Unknown
/// addresses get nothing; the caller answers the same either way.
pub async fn request(state: &AppState, email: &str, locale: Locale, now: UnixTime) -> Result<(), RecoveryError> {
    for account in state.store.accounts_by_email(&normalise_email(email)).await? {
        let token = crypto::random_token(32);
        let reset = PasswordReset {
            digest: crypto::token_digest(&token),
            account_id: account.id.clone(),
            created_at: now,
            expires_at: now + RESET_TTL_SECS,
            used_at: None,
        };
        let context = ResetMail {
            given_name: &account.given_name,
            username: &account.username,
            link: format!("{}/wachtwoord-herstellen?token={token}", state.issuer),
        };
        let rendered = state.mail_templates.render("password-reset", locale, &context)?;
        let mail = outgoing(state, &account, rendered, now).await?;
        let mut tx = state.store.begin().await?;
        tx.create_password_reset(&reset).await?;
        let event = Event::new(EventType::PasswordResetRequested, Actor::unknown())
            .acting_for(account.id.as_str())
            .object("account", account.id.as_str());
        state.audit.commit(tx, Some(&mail), &event, now).await?;
    }
    Ok(())
}

/// The account a reset link is for and the rules its new password must meet, while the link works.
pub async fn open(
    state: &AppState,
    token: &str,
    now: UnixTime,
) -> Result<Option<(Account, PasswordRules)>, RecoveryError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(reset) = state.store.password_reset_by_digest(&crypto::token_digest(token)).await? else {
        return Ok(None);
    };
    if reset.used_at.is_some() || now >= reset.expires_at {
        return Ok(None);
    }
    let Some(account) = state.store.account_by_id(&reset.account_id).await?.filter(|a| !a.disabled) else {
        return Ok(None);
    };
    let rules = state.store.policy_for_account(&account.id).await?.map(|p| p.password_rules).unwrap_or_default();
    Ok(Some((account, rules)))
}

#[derive(Debug)]
pub enum Reset {
    Done(Box<Account>),
    Refused(Problems),
    /// Unknown, used or expired link.
    Invalid,
}

/// Sets the new password (see the module comment for everything that happens with it).
pub async fn reset(
    state: &AppState,
    token: &str,
    new_password: Secret<String>,
    repeated: &str,
    locale: Locale,
    now: UnixTime,
) -> Result<Reset, RecoveryError> {
    let Some((account, rules)) = open(state, token, now).await? else { return Ok(Reset::Invalid) };
    let mut personal = vec![account.username.clone(), account.given_name.clone(), account.family_name.clone()];
    if let Some(date) = &account.birth_date {
        personal.extend(birth_date_forms(date));
    }
    let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
    let problems = Problems {
        username: None,
        password: rules.check(new_password.expose(), &personal),
        mismatch: !crypto::constant_time_eq(new_password.expose().as_bytes(), repeated.as_bytes()),
    };
    if !problems.is_empty() {
        return Ok(Reset::Refused(problems));
    }
    let hash = password::hash(new_password).await.map_err(|_| RecoveryError::Hash)?;
    let context = ResetMail {
        given_name: &account.given_name,
        username: &account.username,
        link: format!("{}/wachtwoord-vergeten", state.issuer),
    };
    let rendered = state.mail_templates.render("password-changed", locale, &context)?;
    let notice = outgoing(state, &account, rendered, now).await?;
    let mut tx = state.store.begin().await?;
    match tx.reset_password(&crypto::token_digest(token), &hash, now).await? {
        Some(_) => {
            let event = Event::new(EventType::PasswordReset, Actor::account(&account))
                .object("account", account.id.as_str())
                .detail("via", "mailed_link");
            state.audit.commit(tx, Some(&notice), &event, now).await?;
            state.note_revocations().await?;
            tracing::info!(account = %account.id, "password reset; sessions ended");
            Ok(Reset::Done(Box::new(account)))
        }
        None => Ok(Reset::Invalid),
    }
}

/// The person replaced their (temporary) password with one they chose: trusted devices are
/// revoked with it, and the change is recorded in the same transaction.
pub async fn set_chosen_password(
    state: &AppState,
    account: &Account,
    hash: &Secret<String>,
    now: UnixTime,
) -> Result<(), crate::store::StoreError> {
    let mut tx = state.store.begin().await?;
    tx.change_password(&account.id, hash, now).await?;
    let event = Event::new(EventType::PasswordChanged, Actor::account(account))
        .object("account", account.id.as_str())
        .detail("was_temporary", account.must_change_password);
    state.audit.commit(tx, None, &event, now).await
}
