//! Outgoing mail. A use case that must send mail renders it ([`render`]) and hands it to the
//! store together with its state change, in one transaction (the outbox). A sender
//! ([`deliver_due`], run by the server every `mail.poll_interval_ms`) then delivers what is due
//! through the configured transport and retries with backoff when that fails, so no mail is
//! lost while SMTP is down and none is sent twice.
//!
//! Transports: SMTP (lettre) for real use, a folder of `.eml` files for development and tests.

mod transport;

use std::sync::Arc;

use serde::Serialize;
use tera::{Context, Tera};

pub use transport::{connect, FileMailer, SmtpMailer};

use crate::clock::UnixTime;
use crate::store::{OutboxMail, StoreError};
use crate::ui::Locale;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail template {0}: {1}")]
    Template(String, String),
    #[error("mail address {0:?} is not valid")]
    Address(String),
    #[error("sending failed: {0}")]
    Transport(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Stable per outbox row, so a receiving server can recognise a repeated delivery.
    pub message_id: String,
}

/// Delivers one message.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, message: &Message) -> Result<(), MailError>;
}

/// Mail templates: `<theme>/email/<message>/<lang>/{subject.txt,body.txt,body.html}`.
pub struct MailTemplates {
    tera: Tera,
}

impl MailTemplates {
    pub fn load(theme_dir: &std::path::Path) -> Result<Self, MailError> {
        let pattern = theme_dir.join("email").join("**").join("*");
        let tera = Tera::new(&pattern.to_string_lossy()).map_err(|e| MailError::Template("*".into(), e.to_string()))?;
        Ok(Self { tera })
    }

    /// Renders subject, text and HTML of `message` in `locale` (HTML is escaped by tera).
    pub fn render(
        &self,
        message: &str,
        locale: Locale,
        context: &impl Serialize,
    ) -> Result<(String, String, String), MailError> {
        let ctx = Context::from_serialize(context).map_err(|e| MailError::Template(message.into(), e.to_string()))?;
        let part = |name: &str| {
            let path = format!("{message}/{}/{name}", locale.code());
            self.tera.render(&path, &ctx).map_err(|e| MailError::Template(path.clone(), format!("{e:?}")))
        };
        Ok((part("subject.txt")?.trim().to_string(), part("body.txt")?, part("body.html")?))
    }
}

/// What the sender did in one round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
}

/// Backoff after `attempts` failures: 30 s, 2 min, 8 min, ... at most an hour.
pub fn backoff(attempts: u32) -> i64 {
    (30_i64 << (2 * attempts.saturating_sub(1)).min(10)).min(3600)
}

/// Claims the due outbox rows (a lease keeps other nodes off them), sends them, and records
/// success or the next attempt.
pub async fn deliver_due(
    store: &dyn crate::store::Store,
    mailer: &Arc<dyn Mailer>,
    now: UnixTime,
) -> Result<Delivery, MailError> {
    let mut delivery = Delivery::default();
    // One lease per mail, claimed just before it is sent: a slow SMTP server cannot make a lease
    // run out while the mail waits its turn in a batch (another node would then send it too).
    for _ in 0..20 {
        let Some(row) = store.claim_due_mail(now, 120, 1).await?.pop() else { break };
        let message = to_message(&row);
        match mailer.send(&message).await {
            Ok(()) => {
                store.mark_mail_sent(&row.id, now).await?;
                delivery.sent += 1;
            }
            Err(e) => {
                tracing::warn!(mail = %row.id, attempts = row.attempts + 1, error = %e, "mail not delivered; will retry");
                store.retry_mail(&row.id, now + backoff(row.attempts + 1), &e.to_string()).await?;
                delivery.failed += 1;
            }
        }
    }
    Ok(delivery)
}

fn to_message(row: &OutboxMail) -> Message {
    Message {
        from_name: row.from_name.clone(),
        from_address: row.from_address.clone(),
        to: row.recipient.clone(),
        subject: row.subject.clone(),
        text: row.body_text.expose().clone(),
        html: row.body_html.expose().clone(),
        message_id: format!("<{}@poortwachter>", row.id),
    }
}

/// A mail to the account's address, from its organisation's sender (or the default one).
pub async fn for_account(
    store: &dyn crate::store::Store,
    config: &crate::config::MailConfig,
    account: &crate::store::Account,
    rendered: (String, String, String),
    now: crate::clock::UnixTime,
) -> Result<crate::store::OutboxMail, StoreError> {
    let policy = store.policy_for_account(&account.id).await?;
    let sender = (
        policy.as_ref().and_then(|p| p.mail_from_name.clone()).unwrap_or_else(|| config.from_name.clone()),
        policy.as_ref().and_then(|p| p.mail_from_address.clone()).unwrap_or_else(|| config.from_address.clone()),
    );
    let organisation = policy.map(|p| p.organisation_id);
    Ok(crate::store::OutboxMail::queued(organisation, account.email.clone().unwrap_or_default(), sender, rendered, now))
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), 30);
        assert_eq!(backoff(2), 120);
        assert_eq!(backoff(3), 480);
        assert_eq!(backoff(4), 1920);
        assert_eq!(backoff(5), 3600);
        assert_eq!(backoff(40), 3600);
    }
}
