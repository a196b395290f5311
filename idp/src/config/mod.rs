//! One typed configuration tree. Sources, later ones winning:
//! built-in defaults → the TOML file (`IDP_CONFIG`, default `poortwachter.toml` when present)
//! → `IDP_*` environment variables (`IDP_DATABASE__URL` sets `database.url`)
//! → `IDP_*_FILE` variables naming a file that holds a secret (`IDP_DATABASE__URL_FILE`).
//! [`Config::load`] validates everything once, at start, and names the offending key in one line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::Secret;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub kv: KvConfig,
    pub mail: MailConfig,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub signin: SigninConfig,
    pub factors: FactorConfig,
    /// SMS and voice codes: `transport = "file"` (development) or `"http"` (a gateway).
    pub sms: crate::sms::SmsConfig,
    /// Levels that scopes demand, e.g. `[scope_levels.dossier] level = "two-factor"`,
    /// `max_age_secs = 900` (the second factor proved within the last 15 minutes).
    pub scope_levels: std::collections::BTreeMap<String, ScopeLevel>,
    pub keys: KeyConfig,
    pub cache: CacheConfig,
    pub representation: RepresentationConfig,
    pub theme: ThemeConfig,
    pub log: LogConfig,
    pub audit: AuditConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// The issuer and the base of every link the IdP builds. Defaults to `http://<bind>`.
    pub public_url: Option<Url>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://data/poortwachter.db` (default) or `postgres://user@host/db`.
    pub url: Secret<String>,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvConfig {
    /// Short-lived shared state: `memory` (one node) or `redis://127.0.0.1:6379` (several nodes).
    pub url: Secret<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub prefix: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `file` writes one `.eml` per message into `file_dir`; `smtp` sends through `mail.smtp`.
    pub transport: MailTransport,
    pub file_dir: PathBuf,
    pub smtp: SmtpConfig,
    /// The sender when an organisation has not set its own.
    pub from_name: String,
    pub from_address: String,
    /// How often the sender looks for mail to deliver.
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `starttls` (port 587), `tls` (port 465) or `none` (a local relay only).
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self { host: "localhost".into(), port: 587, security: SmtpSecurity::Starttls, username: None, password: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Authorization code lifetime; at most 60 seconds.
    pub code_ttl_secs: i64,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    /// Absolute lifetime of a refresh-token family (rotation does not extend it).
    pub refresh_token_ttl_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Lifetime of the single-sign-on session.
    pub ttl_secs: i64,
    /// How long a started sign-in (an authorization request waiting for the user) is kept.
    pub interaction_ttl_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigninConfig {
    /// Failed sign-ins per normalised username within `window_secs` before it is paused.
    pub max_failures_per_username: u32,
    /// Failed sign-ins per client address within `window_secs` before it is paused.
    pub max_failures_per_ip: u32,
    pub window_secs: i64,
    /// How long a browser that gave the right password stays known for that username (its own
    /// allowance of `max_failures_per_username`, see `auth::known_device`).
    pub device_cookie_days: i64,
    /// Sign-ins whose password may be checked or waiting to be, per server; a sign-in beyond
    /// this is refused at once with 503 and `Retry-After` (see `auth::password::Admission`).
    /// Default: 32 per core: about a quarter of a second of hashing here (7.6 ms a hash) when the
    /// cores are free for it, 0.35–0.57 s measured under a storm.
    pub max_waiting_password_checks: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FactorConfig {
    /// 32 bytes, base64url: encrypts TOTP secrets at rest and keys the recovery-code digests.
    /// When unset, a key is created in `key_path` (one node, development).
    pub encryption_key: Option<Secret<String>>,
    pub key_path: PathBuf,
    /// Lifetime of a mailed, SMS or voice code; at most 600 seconds.
    pub code_ttl_secs: i64,
    /// Tries per sent code before it is void.
    pub code_tries: u32,
    /// Codes sent per account (and per phone number) within `send_window_secs`.
    pub max_sends: u32,
    pub send_window_secs: i64,
    /// Wrong second-factor codes per account within `failure_window_secs` before a pause.
    pub max_failures: u32,
    pub failure_window_secs: i64,
    /// Changes on the account page need a sign-in at most this old.
    pub reauth_secs: i64,
}

impl Default for FactorConfig {
    fn default() -> Self {
        Self {
            encryption_key: None,
            key_path: PathBuf::from("data/factors.key"),
            code_ttl_secs: 600,
            code_tries: 5,
            max_sends: 3,
            send_window_secs: 900,
            max_failures: 5,
            failure_window_secs: 900,
            reauth_secs: 600,
        }
    }
}

/// What a scope demands of the sign-in (see `auth::levels`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeLevel {
    pub level: crate::auth::levels::Level,
    pub max_age_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyConfig {
    /// A rotated-in key is published in JWKS this long before it signs, so relying parties
    /// that cache JWKS (we send `max-age` = `jwks_max_age_secs`) already know it.
    pub publish_delay_secs: i64,
    pub jwks_max_age_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How often the server checks whether `idp-admin` changed clients or keys.
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepresentationConfig {
    /// How often a node ends the parental representations of clients who turned 16 (their
    /// status, the parent's grants, the notices; docs/representation.md). The age rules take
    /// effect at the birthday whatever this is.
    pub age_check_interval_secs: u64,
}

impl Default for RepresentationConfig {
    fn default() -> Self {
        Self { age_check_interval_secs: 3600 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThemeConfig {
    /// Folder holding `templates/`, `locales/` and `static/`.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// This node's name in audit records; default: the host name.
    pub node: Option<String>,
    /// Whole calendar months of audit records kept (NEN 7513 asks for at least five years).
    pub retention_months: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { node: None, retention_months: 60 }
    }
}

impl AuditConfig {
    /// The node name written into audit records.
    pub fn node_name(&self) -> String {
        self.node
            .clone()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "poortwachter".into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info,idp=debug`. `RUST_LOG` wins when set.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 64 * 1024,
            trust_forwarded_for: false,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: Secret::new("sqlite://data/poortwachter.db".into()), max_connections: 8 }
    }
}

impl Default for KvConfig {
    fn default() -> Self {
        Self { url: Secret::new("memory".into()), prefix: "pw:".into() }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            file_dir: PathBuf::from("data/mail"),
            smtp: SmtpConfig::default(),
            from_name: "Poortwachter".into(),
            from_address: "no-reply@localhost".into(),
            poll_interval_ms: 1000,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self { code_ttl_secs: 60, access_token_ttl_secs: 600, id_token_ttl_secs: 600, refresh_token_ttl_secs: 8 * 3600 }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { ttl_secs: 8 * 3600, interaction_ttl_secs: 30 * 60 }
    }
}

impl Default for SigninConfig {
    fn default() -> Self {
        Self {
            max_failures_per_username: 5,
            max_failures_per_ip: 50,
            window_secs: 15 * 60,
            device_cookie_days: 180,
            max_waiting_password_checks: crate::auth::password::Admission::default_room(),
        }
    }
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self { publish_delay_secs: 600, jwks_max_age_secs: 300 }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { poll_interval_ms: 1000 }
    }
}

impl Default for ThemeConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("themes/default") }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, filter: "info".into() }
    }
}

/// A configuration problem, phrased as one line that names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads from the default sources: `IDP_CONFIG` (or `poortwachter.toml` when it exists) and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let path = std::env::var_os("IDP_CONFIG").map(PathBuf::from);
        Self::load_from(path.as_deref(), std::env::vars())
    }

    /// Loads with an explicit file (None: `poortwachter.toml` when present) and environment.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError(format!("file {} does not exist", path.display()))),
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("poortwachter.toml")),
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut sources: Vec<(String, String)> = Vec::new();
        // Values are read the way figment's Env provider reads them (numbers, booleans, strings).
        for (key, value) in
            env.iter().filter(|(k, _)| k.starts_with("IDP_") && k != "IDP_CONFIG" && !k.ends_with("_FILE"))
        {
            let name = key[4..].to_ascii_lowercase().replace("__", ".");
            let value: figment::value::Value = value.parse().unwrap_or_else(|never| match never {});
            sources.push((name.clone(), key.clone()));
            figment = figment.merge((name, value));
        }
        for (key, path) in env.iter().filter(|(k, _)| k.starts_with("IDP_") && k.ends_with("_FILE")) {
            let name = key[4..key.len() - 5].to_ascii_lowercase().replace("__", ".");
            let value =
                std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{key}: cannot read {path}: {e}")))?;
            sources.push((name.clone(), key.clone()));
            figment = figment.merge((name, value.trim_end_matches(['\r', '\n']).to_string()));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError(one_line(&e, &sources)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if let Some(url) = &self.server.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return fail("server.public_url", "must be an absolute http(s) URL");
            }
            if url.query().is_some() || url.fragment().is_some() {
                return fail("server.public_url", "must not have a query or fragment");
            }
        }
        let db = self.database.url.expose();
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return fail("database.url", "must start with sqlite: or postgres://");
        }
        let kv = self.kv.url.expose();
        if !(kv == "memory" || kv.starts_with("redis://") || kv.starts_with("rediss://")) {
            return fail("kv.url", "must be memory or a redis:// URL");
        }
        if crate::domain::Email::parse(&self.mail.from_address).is_none()
            && self.mail.from_address != "no-reply@localhost"
        {
            return fail("mail.from_address", "must be an e-mail address");
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp.host.trim().is_empty() {
            return fail("mail.smtp.host", "must be set when mail.transport = smtp");
        }
        if self.audit.retention_months == 0 {
            return fail("audit.retention_months", "must be at least 1");
        }
        if self.audit.node.as_deref().is_some_and(|n| n.trim().is_empty() || n.len() > 100) {
            return fail("audit.node", "must be 1-100 characters");
        }
        if self.database.max_connections == 0 {
            return fail("database.max_connections", "must be at least 1");
        }
        if !(1..=60).contains(&self.tokens.code_ttl_secs) {
            return fail("tokens.code_ttl_secs", "must be between 1 and 60");
        }
        for (key, value) in [
            ("tokens.access_token_ttl_secs", self.tokens.access_token_ttl_secs),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
            ("tokens.refresh_token_ttl_secs", self.tokens.refresh_token_ttl_secs),
            ("session.ttl_secs", self.session.ttl_secs),
            ("session.interaction_ttl_secs", self.session.interaction_ttl_secs),
            ("signin.window_secs", self.signin.window_secs),
        ] {
            if value <= 0 {
                return fail(key, "must be a positive number of seconds");
            }
        }
        if self.keys.publish_delay_secs < 0 || self.keys.jwks_max_age_secs < 0 {
            return fail("keys", "delays must not be negative");
        }
        if self.keys.publish_delay_secs < self.keys.jwks_max_age_secs {
            return fail("keys.publish_delay_secs", "must be at least keys.jwks_max_age_secs");
        }
        if self.signin.max_waiting_password_checks == 0 {
            return fail("signin.max_waiting_password_checks", "must be at least 1");
        }
        if self.signin.max_failures_per_username == 0 || self.signin.max_failures_per_ip == 0 {
            return fail("signin", "failure limits must be at least 1");
        }
        if !(1..=400).contains(&self.signin.device_cookie_days) {
            // Browsers keep a cookie at most 400 days (the cap in draft RFC 6265bis).
            return fail("signin.device_cookie_days", "must be between 1 and 400");
        }
        if !(60..=600).contains(&self.factors.code_ttl_secs) {
            return fail("factors.code_ttl_secs", "must be between 60 and 600");
        }
        if self.factors.code_tries == 0 || self.factors.max_sends == 0 || self.factors.max_failures == 0 {
            return fail("factors", "limits must be at least 1");
        }
        if self.factors.send_window_secs <= 0 || self.factors.failure_window_secs <= 0 || self.factors.reauth_secs <= 0
        {
            return fail("factors", "windows must be a positive number of seconds");
        }
        match &self.factors.encryption_key {
            Some(key) if crate::auth::factor_key::FactorKey::parse(key.expose()).is_none() => {
                return fail("factors.encryption_key", "must be 32 bytes in base64url (43 characters)");
            }
            // Nodes that share the work must share the key: a key file is one node's.
            None if kv != "memory" => {
                return fail(
                    "factors.encryption_key",
                    "must be set when several nodes share the work (kv.url is Redis)",
                );
            }
            _ => {}
        }
        for (scope, level) in &self.scope_levels {
            if level.max_age_secs.is_some_and(|a| a <= 0) {
                return fail(&format!("scope_levels.{scope}.max_age_secs"), "must be a positive number of seconds");
            }
            if level.max_age_secs.is_some() && level.level == crate::auth::levels::Level::Password {
                // The age is that of the second factor; a password-only level has none.
                return fail(&format!("scope_levels.{scope}.max_age_secs"), "needs level two-factor or higher");
            }
        }
        Ok(())
    }

    /// The longest time a signed token stays valid; keys must verify at least that long after retiring.
    pub fn max_signed_token_ttl(&self) -> i64 {
        self.tokens.access_token_ttl_secs.max(self.tokens.id_token_ttl_secs)
    }
}

/// `key: what is wrong (from SOURCE)`, on one line.
fn one_line(error: &figment::Error, sources: &[(String, String)]) -> String {
    let key = error.path.join(".");
    let source = sources
        .iter()
        .rev()
        .find(|(name, _)| *name == key)
        .map(|(_, var)| var.clone())
        .or_else(|| error.metadata.as_ref().and_then(|m| m.source.as_ref()).map(|s| s.to_string()));
    let mut line = if key.is_empty() { error.kind.to_string() } else { format!("{key}: {}", error.kind) };
    if let Some(source) = source {
        line.push_str(&format!(" (from {source})"));
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let c = Config::load_from(None, env(&[("IDP_SERVER__BIND", "127.0.0.1:9999")])).unwrap();
        assert_eq!(c.server.bind.port(), 9999);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Config::load_from(None, env(&[("IDP_TOKENS__CODE_TTL_SECS", "600")])).unwrap_err();
        assert!(err.to_string().contains("tokens.code_ttl_secs"), "{err}");
        let err = Config::load_from(None, env(&[("IDP_SERVER__BIND", "not-an-address")])).unwrap_err();
        assert!(err.to_string().contains("bind"), "{err}");
        assert!(!err.to_string().contains('\n'));
        let err = Config::load_from(None, env(&[("IDP_KV__URL", "redis://127.0.0.1:6379")])).unwrap_err();
        assert!(err.to_string().contains("factors.encryption_key"), "several nodes need one key: {err}");
        let err = Config::load_from(None, env(&[("IDP_FACTORS__ENCRYPTION_KEY", "short")])).unwrap_err();
        assert!(err.to_string().contains("factors.encryption_key"), "{err}");
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("idp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db-url");
        std::fs::write(&file, "postgres://postgres@127.0.0.1/x\n").unwrap();
        let c = Config::load_from(None, env(&[("IDP_DATABASE__URL_FILE", file.to_str().unwrap())])).unwrap();
        assert_eq!(c.database.url.expose(), "postgres://postgres@127.0.0.1/x");
    }
}
