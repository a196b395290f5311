//! Mail transports: SMTP through lettre, and a folder with one `.eml` file per message
//! (exactly the bytes SMTP would carry) for development and tests.

use std::path::PathBuf;
use std::sync::Arc;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{MailError, Mailer, Message};
use crate::clock::Clock as _;
use crate::config::{MailConfig, MailTransport, SmtpSecurity};

fn build(message: &Message) -> Result<lettre::Message, MailError> {
    let from: Mailbox = format!("{} <{}>", message.from_name, message.from_address)
        .parse()
        .or_else(|_| message.from_address.parse())
        .map_err(|_| MailError::Address(message.from_address.clone()))?;
    let to: Mailbox = message.to.parse().map_err(|_| MailError::Address(message.to.clone()))?;
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(&message.subject)
        .message_id(Some(message.message_id.clone()))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(message.text.clone()))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(message.html.clone())),
        )
        .map_err(|e| MailError::Transport(e.to_string()))
}

/// Sends through an SMTP server (STARTTLS, implicit TLS, or plain for a local relay).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    pub fn new(config: &crate::config::SmtpConfig) -> Result<Self, MailError> {
        let err = |e: lettre::transport::smtp::Error| MailError::Transport(e.to_string());
        let mut builder = match config.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(err)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(err)?,
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        };
        builder = builder.port(config.port).timeout(Some(std::time::Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(Self { transport: builder.build() })
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let built = build(message)?;
        self.transport.send(built).await.map(|_| ()).map_err(|e| MailError::Transport(e.to_string()))
    }
}

/// Writes each message to `<dir>/<time>-<id>.eml`.
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

#[async_trait::async_trait]
impl Mailer for FileMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let bytes = build(message)?.formatted();
        let id: String =
            message.message_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let name = format!("{:020}-{id}.eml", crate::clock::SystemClock.now().unix_timestamp_nanos());
        tokio::fs::write(self.dir.join(name), bytes).await.map_err(|e| MailError::Transport(e.to_string()))
    }
}

/// The transport the configuration names.
pub fn connect(config: &MailConfig) -> Result<Arc<dyn Mailer>, MailError> {
    Ok(match config.transport {
        MailTransport::File => Arc::new(FileMailer::new(config.file_dir.clone())),
        MailTransport::Smtp => Arc::new(SmtpMailer::new(&config.smtp)?),
    })
}
