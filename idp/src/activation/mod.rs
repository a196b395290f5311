//! Account activation (PRODUCT.md journeys A and B): invitations, the validation code, choosing
//! a username and password under the organisation's policy. Every step that changes state does
//! so in one transaction, so nothing is ever half-activated.
//!
//! The pages call `pending` (journey A: the code, then the kept activation) and `link`'s
//! [`link::shown`] and [`link::answer`] (journey B); each reads the clock once.

pub mod account;
pub mod invite;
pub mod link;
pub mod pending;

use std::net::IpAddr;

use crate::domain::Email;
use crate::kv::{keys, KvError};

/// What the activation use cases write with: storage and the audit log.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub store: &'a dyn crate::store::Store,
    pub audit: &'a crate::audit::Auditor,
}

/// What they mail with: the templates, the sender settings and the public URL for links.
#[derive(Clone, Copy)]
pub struct Mailing<'a> {
    pub templates: &'a crate::mail::MailTemplates,
    pub config: &'a crate::config::Config,
    pub issuer: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// Input that cannot be used; the text names the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    /// An operator's command was refused, and the audit record of that could not be written either.
    #[error("{error} (and its audit record could not be written: {audit})")]
    Unrecorded { error: Box<ActivationError>, audit: crate::store::StoreError },
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Wrong answers (codes, birth dates) per client address before the pages pause, on top of the
/// per-invitation lock; counted within `signin.window_secs`.
const MAX_FAILURES_PER_IP: u64 = 20;

/// Whether `ip` gave too many wrong answers lately.
async fn paused(deps: &crate::app::Deps, ip: IpAddr) -> Result<bool, KvError> {
    crate::kv::reached(deps.kv.as_ref(), &keys::activation_failures_by_address(ip), MAX_FAILURES_PER_IP).await
}

/// Counts a wrong answer against the address (a failure to count is not the person's problem).
async fn count_failure(deps: &crate::app::Deps, ip: IpAddr) {
    let _ = deps.kv.incr(&keys::activation_failures_by_address(ip), deps.config.signin.window_secs).await;
}

/// The account an invitation becomes. The person proved the address by using what was mailed
/// to it, so it counts as verified.
pub fn account_for(
    invitation: &crate::store::Invitation,
    username: &crate::domain::Username,
    password_hash: crate::domain::Secret<String>,
    temporary: bool,
    now: crate::clock::UnixTime,
) -> crate::store::Account {
    crate::store::Account {
        id: crate::domain::AccountId(uuid::Uuid::new_v4().to_string()),
        subject: crate::domain::Subject(crate::crypto::random_token(16)),
        username: username.display().to_string(),
        username_normalised: username.normalised().to_string(),
        username_skeleton: username.skeleton().to_string(),
        email: Some(invitation.email.clone()),
        email_verified: true,
        given_name: invitation.given_name.clone(),
        family_name: invitation.family_name.clone(),
        birth_date: invitation.birth_date.clone(),
        password_hash: Some(password_hash),
        created_at: now,
        disabled: false,
        must_change_password: temporary,
        password_via_mail: false,
    }
}

/// The record of an invitation becoming an account, by the person who used it.
pub(crate) fn activated(account: &crate::store::Account, invitation: &crate::store::Invitation) -> crate::audit::Event {
    use crate::audit::{Actor, Event, EventType};
    Event::new(EventType::AccountActivated, Actor::account(account))
        .object("account", account.id.as_str())
        .organisation(invitation.organisation_id.as_str())
        .detail("invitation", invitation.id.as_str())
        .detail("method", invitation.method.as_str())
}

/// The form of an address used to find invitations: trimmed, lower case.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Validation codes are typed from a letter: upper case, no spaces or dashes, and a pasted
/// trailing newline does not matter.
pub fn normalise_code(code: &str) -> String {
    code.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect()
}

/// Checks an address as a person typed it.
pub fn parse_email(email: &str) -> Option<Email> {
    Email::parse(email)
}
