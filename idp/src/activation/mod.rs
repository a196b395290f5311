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
