//! "Wachtwoord vergeten?": a single-use link by mail (valid one hour), then a new password under
//! the organisation's rules. The answer to a request never tells whether the address is known.
//! Setting the new password ends the account's sessions (and their grants) and mails a notice.
//! A reset never signs anyone in: the next sign-in goes through every factor the account has.
//!
//! The pages call [`ask`], [`follow`] and [`choose`]; each reads the clock once and counts what
//! it must (requests per address and mailbox, bad links per address) in `kv`.

use std::net::IpAddr;

use serde::Serialize;

use crate::activation::account::Problems;
use crate::activation::normalise_email;
use crate::app::AppState;
use crate::audit::{Actor, Event, EventType};
use crate::auth::password;
use crate::auth::password_rules::PasswordRules;
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::Secret;
use crate::kv::{keys, KvError};
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
    #[error(transparent)]
    Kv(#[from] KvError),
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
    let problems = Problems::of_new_password(&account, &rules, new_password.expose(), repeated);
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

/// Reset mails asked per client address and per mailbox within [`REQUEST_WINDOW_SECS`]: enough
/// for a person, too few to flood someone's mailbox.
const MAX_REQUESTS_PER_IP: u64 = 10;
const MAX_REQUESTS_PER_EMAIL: u64 = 3;
const REQUEST_WINDOW_SECS: i64 = 3600;
/// Wrong, used or expired links per client address within `signin.window_secs`.
const MAX_BAD_LINKS_PER_IP: u64 = 20;

/// The answer to "Wachtwoord vergeten?".
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// Not an e-mail address; nothing was counted or sent.
    BadEmail,
    /// The same answer whether the address is known, and whether the limit was reached.
    Answered,
}

/// Someone asks for a reset link for `email` from `ip`. Within the limits, [`request`] runs after
/// the answer (the lookup, rendering and writing), so how long the answer takes does not tell
/// whether the address is known.
pub async fn ask(state: &AppState, ip: IpAddr, email: &str, locale: Locale) -> Result<Asked, RecoveryError> {
    if crate::activation::parse_email(email).is_none() {
        return Ok(Asked::BadEmail);
    }
    let now = state.clock.unix();
    let by_ip = state.kv.incr(&keys::reset_requests_by_address(ip), REQUEST_WINDOW_SECS).await;
    let by_email = state.kv.incr(&keys::reset_requests_by_mailbox(&normalise_email(email)), REQUEST_WINDOW_SECS).await;
    let (by_ip, by_email) = (by_ip?, by_email?);
    if by_ip <= MAX_REQUESTS_PER_IP && by_email <= MAX_REQUESTS_PER_EMAIL {
        let (background, email) = (state.clone(), email.to_string());
        state.in_background(async move {
            if let Err(e) = request(&background, &email, locale, now).await {
                tracing::error!(error = %e, "password reset request failed");
            }
        });
    } else {
        // Over the limit: no mail, and the same answer, so the limit does not reveal the address.
        tracing::warn!("password reset requests throttled");
    }
    Ok(Asked::Answered)
}

/// The account a working link is for, and the rules its new password must meet.
#[derive(Debug)]
pub struct Opened {
    pub account: Box<Account>,
    pub rules: PasswordRules,
}

/// What following a reset link came to.
#[derive(Debug)]
pub enum Followed {
    /// Too many bad links from this address: nothing was checked.
    Paused,
    Open(Opened),
    /// Unknown, used or expired (counted against the address).
    Invalid,
}

/// Someone follows a reset link from `ip`.
pub async fn follow(state: &AppState, ip: IpAddr, token: &str) -> Result<Followed, RecoveryError> {
    if bad_links_exceeded(state, ip).await {
        return Ok(Followed::Paused);
    }
    match open(state, token, state.clock.unix()).await? {
        Some((account, rules)) => Ok(Followed::Open(Opened { account: Box::new(account), rules })),
        None => {
            count_bad_link(state, ip).await;
            Ok(Followed::Invalid)
        }
    }
}

/// What choosing the new password came to.
#[derive(Debug)]
pub enum Chosen {
    Paused,
    /// The password is set (see [`reset`]).
    Done,
    /// Not acceptable: the link's page again, saying why.
    Refused(Opened, Problems),
    Invalid,
}

/// The new password, typed twice, sent with the link's token from `ip`.
pub async fn choose(
    state: &AppState,
    ip: IpAddr,
    token: &str,
    new_password: Secret<String>,
    repeated: &str,
    locale: Locale,
) -> Result<Chosen, RecoveryError> {
    if bad_links_exceeded(state, ip).await {
        return Ok(Chosen::Paused);
    }
    let now = state.clock.unix();
    let refused = match reset(state, token, new_password, repeated, locale, now).await? {
        Reset::Done(_) => return Ok(Chosen::Done),
        Reset::Refused(problems) => open(state, token, now).await?.map(|opened| (opened, problems)),
        Reset::Invalid => None,
    };
    match refused {
        Some(((account, rules), problems)) => {
            Ok(Chosen::Refused(Opened { account: Box::new(account), rules }, problems))
        }
        None => {
            count_bad_link(state, ip).await;
            Ok(Chosen::Invalid)
        }
    }
}

/// Whether `ip` sent too many bad links lately (if that cannot be read, it did not).
async fn bad_links_exceeded(state: &AppState, ip: IpAddr) -> bool {
    crate::kv::reached(state.kv.as_ref(), &keys::reset_failures_by_address(ip), MAX_BAD_LINKS_PER_IP)
        .await
        .unwrap_or(false)
}

/// Counts a wrong, used or expired link against the address (a failure to count is not the
/// person's problem).
async fn count_bad_link(state: &AppState, ip: IpAddr) {
    let _ = state.kv.incr(&keys::reset_failures_by_address(ip), state.config.signin.window_secs).await;
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
