//! Account activation (PRODUCT.md journeys A and B): invitations, the validation code, choosing
//! a username and password under the organisation's policy. Every step that changes state does
//! so in one transaction, so nothing is ever half-activated.

pub mod account;
pub mod invite;
pub mod link;

use crate::domain::Email;

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// Input that cannot be used; the text names the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
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
