//! Delivery of one-time codes by SMS or voice call.
//!
//! * [`phone`] parses and validates phone numbers typed by users and decides whether a number
//!   gets an SMS ([`PhoneKind::Mobile`]) or a voice call ([`PhoneKind::Landline`]).
//! * [`CodeSender`] is the delivery abstraction; [`build`] creates one from [`SmsConfig`].
//!   Implementations: [`FileSender`] (development), [`HttpGateway`] (production),
//!   [`MemorySender`] (tests).
//!
//! # Secrets
//!
//! The text of a message contains a one-time code and is treated as a secret: it is never logged,
//! never part of an error's Display, and is redacted in the `Debug` output of [`OutgoingMessage`].
//! The gateway credential (`auth_value`) is redacted in `Debug` of the configuration types.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod gateway;
pub mod phone;
mod transport;

pub use gateway::{
    BodyEncoding, GatewayConfigError, HttpGateway, HttpGatewayConfig, DEFAULT_SMS_BODY, DEFAULT_VOICE_BODY,
};
pub use phone::{parse as parse_phone, PhoneError, PhoneKind, PhoneNumber};
pub use transport::{FileSender, MemorySender};

/// How a code is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Text message.
    Sms,
    /// Text-to-speech phone call.
    Voice,
}

impl Channel {
    /// `"sms"` or `"voice"` (same as the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<PhoneKind> for Channel {
    /// Mobile numbers get an SMS, landlines a voice call.
    fn from(kind: PhoneKind) -> Self {
        match kind {
            PhoneKind::Mobile => Channel::Sms,
            PhoneKind::Landline => Channel::Voice,
        }
    }
}

/// One message to deliver. `text` contains the code: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    /// Recipient in E.164 form (`+31612345678`).
    pub to: String,
    pub channel: Channel,
    /// The text to send or speak. Secret.
    pub text: String,
}

impl OutgoingMessage {
    /// A message to a validated number, on the channel that fits its kind
    /// (mobile → SMS, landline → voice).
    pub fn for_phone(phone: &PhoneNumber, text: impl Into<String>) -> Self {
        OutgoingMessage { to: phone.e164().to_owned(), channel: phone.kind().into(), text: text.into() }
    }
}

impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("to", &self.to)
            .field("channel", &self.channel)
            .field("text", &"<redacted>")
            .finish()
    }
}

/// Why a message could not be delivered. Never contains the message text or a code.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The gateway answered with a non-2xx HTTP status (the response body is not kept).
    #[error("SMS gateway rejected the message (HTTP {0})")]
    Rejected(u16),
    /// The gateway could not be reached or did not answer in time.
    #[error("SMS gateway unavailable: {0}")]
    Unavailable(String),
    /// The recipient is not an E.164 number (`+` and 1–15 digits).
    #[error("recipient is not an E.164 phone number")]
    InvalidRecipient,
    /// The message could not be written to the outbox folder ([`FileSender`]).
    #[error("could not write message file: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else (should not happen; e.g. serialising a request body failed).
    #[error("internal error while sending message: {0}")]
    Internal(String),
}

/// Something that delivers one-time codes.
#[async_trait]
pub trait CodeSender: Send + Sync {
    /// Deliver one message. Implementations must not log `message.text`.
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError>;
}

/// Which [`CodeSender`] [`build`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// [`FileSender`] writing to [`SmsConfig::file_dir`]. Development only.
    #[default]
    File,
    /// [`HttpGateway`] configured by [`SmsConfig::http`].
    Http,
}

/// Configuration of code delivery, e.g. the `[sms]` table of the IdP config:
///
/// ```toml
/// [sms]
/// transport = "http"            # "file" (default) or "http"
/// file_dir = "data/sms"         # used by "file"
///
/// [sms.http]
/// url = "https://gateway.example/v1/sms"
/// auth_header = "Authorization"
/// auth_value = "Bearer xyz"
/// ```
///
/// Unknown keys are an error, so a misspelt `auth_value` cannot silently disable auth.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    pub transport: TransportKind,
    pub file_dir: PathBuf,
    pub http: HttpGatewayConfig,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            transport: TransportKind::File,
            file_dir: PathBuf::from("data/sms"),
            http: HttpGatewayConfig::default(),
        }
    }
}

impl fmt::Debug for SmsConfig {
    /// `http.auth_value` is redacted (see [`HttpGatewayConfig`]'s `Debug`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsConfig")
            .field("transport", &self.transport)
            .field("file_dir", &self.file_dir)
            .field("http", &self.http)
            .finish()
    }
}

/// Create the configured [`CodeSender`]. Errors are human-readable configuration errors
/// (e.g. "sms.http.sms_body is not valid JSON: ...") and never contain `auth_value`.
pub fn build(config: &SmsConfig) -> Result<Arc<dyn CodeSender>, GatewayConfigError> {
    match config.transport {
        TransportKind::File => {
            tracing::warn!(
                dir = %config.file_dir.display(),
                "sms transport is \"file\": one-time codes are written to disk, not sent; do not use in production"
            );
            Ok(Arc::new(FileSender::new(config.file_dir.clone())))
        }
        TransportKind::Http => {
            let gateway = HttpGateway::new(config.http.clone())?;
            Ok(Arc::new(gateway))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_serde_is_lowercase() {
        assert_eq!(serde_json::to_string(&Channel::Sms).ok().as_deref(), Some("\"sms\""));
        assert_eq!(serde_json::from_str::<Channel>("\"voice\"").ok(), Some(Channel::Voice));
        assert_eq!(Channel::from(PhoneKind::Landline), Channel::Voice);
    }

    #[test]
    fn message_debug_redacts_text() {
        let msg = OutgoingMessage { to: "+31612345678".into(), channel: Channel::Sms, text: "code 987654".into() };
        let dbg = format!("{msg:?}");
        assert!(!dbg.contains("987654"), "{dbg}");
        assert!(dbg.contains("+31612345678"));
    }

    #[test]
    fn message_for_phone_picks_channel() {
        let mobile = parse_phone("06 12345678").expect("valid");
        let landline = parse_phone("020 123 4567").expect("valid");
        assert_eq!(OutgoingMessage::for_phone(&mobile, "x").channel, Channel::Sms);
        let m = OutgoingMessage::for_phone(&landline, "x");
        assert_eq!((m.to.as_str(), m.channel), ("+31201234567", Channel::Voice));
    }

    #[test]
    fn config_defaults_and_debug_redaction() {
        let cfg: SmsConfig = serde_json::from_str("{}").expect("empty config");
        assert_eq!(cfg.transport, TransportKind::File);
        assert_eq!(cfg.file_dir, PathBuf::from("data/sms"));

        let cfg: SmsConfig = serde_json::from_value(serde_json::json!({
            "transport": "http",
            "http": { "url": "https://gw.example/sms", "auth_value": "Bearer very-secret" }
        }))
        .expect("http config");
        assert_eq!(cfg.transport, TransportKind::Http);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(build(&cfg).is_ok());

        assert!(serde_json::from_str::<SmsConfig>(r#"{"transport":"carrier-pigeon"}"#).is_err());
        assert!(serde_json::from_str::<SmsConfig>(r#"{"http":{"auth_valeu":"x"}}"#).is_err());
    }

    #[test]
    fn build_reports_bad_config() {
        let mut cfg = SmsConfig { transport: TransportKind::Http, ..SmsConfig::default() };
        cfg.http.url = "https://gw.example/sms".into();
        cfg.http.auth_value = Some("Bearer very-secret".into());
        cfg.http.voice_body = "{not json".into();
        let err = build(&cfg).err().expect("must fail").to_string();
        assert!(err.contains("voice_body"), "{err}");
        assert!(!err.contains("very-secret"), "{err}");

        let cfg = SmsConfig { transport: TransportKind::Http, ..SmsConfig::default() };
        let err = build(&cfg).err().expect("missing url must fail").to_string();
        assert!(err.contains("url"), "{err}");
    }
}
