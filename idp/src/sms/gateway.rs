//! [`HttpGateway`]: a real SMS/voice gateway client over HTTP, with body templates.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Channel, CodeSender, OutgoingMessage, SendError};

// ---------------------------------------------------------------------------------------------
// HttpGateway configuration
// ---------------------------------------------------------------------------------------------

/// How the rendered body template is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// `Content-Type: application/json`, the rendered template as is.
    #[default]
    Json,
    /// `Content-Type: application/x-www-form-urlencoded`. The template must then be a flat JSON
    /// object whose values are strings, numbers or booleans; each member becomes one form field.
    Form,
}

/// Configuration of [`HttpGateway`] (`[sms.http]`). All fields have defaults; `url` must be set.
///
/// # Body templates
///
/// `sms_body` and `voice_body` are JSON text. In every **string value** (not in keys, numbers,
/// ...) these placeholders are replaced by the raw values; the result is serialised again by
/// serde_json, so quotes, backslashes or newlines in the text can never break the JSON. Inserted
/// values are not scanned again, so a text containing `{{to}}` stays literally `{{to}}`.
///
/// | placeholder     | value                                   | example          |
/// |-----------------|-----------------------------------------|------------------|
/// | `{{to}}`        | recipient in E.164                      | `+31612345678`   |
/// | `{{to_digits}}` | recipient in E.164 without the `+`      | `31612345678`    |
/// | `{{text}}`      | message text (contains the code)        | `Uw code: 123456` |
///
/// A template must use `{{text}}` and `{{to}}` or `{{to_digits}}`; unknown `{{...}}` placeholders
/// are refused when the gateway is built, as is invalid JSON (the error names the template).
/// For CM.com-style `00`-prefixed numbers write `"00{{to_digits}}"`.
///
/// Defaults: `sms_body = {"to":"{{to}}","text":"{{text}}"}` and
/// `voice_body = {"to":"{{to}}","text":"{{text}}","channel":"voice"}`; `voice_url` defaults to
/// `url`, `auth_header` to `Authorization` when only `auth_value` is set, `timeout_ms` to 10000,
/// `encoding` to `json`. Redirects are not followed (a 3xx counts as rejected).
///
/// # Examples (check the provider's current API documentation for exact fields)
///
/// CM.com (business messaging JSON API; voice uses CM's separate voice API and its own body):
///
/// ```toml
/// [sms.http]
/// url = "https://gw.messaging.cm.com/v1.0/message"
/// sms_body = '''{"messages": {"authentication": {"producttoken": "00000000-0000-0000-0000-000000000000"},
///   "msg": [{"from": "Poortwachter", "to": [{"number": "00{{to_digits}}"}], "body": {"content": "{{text}}"}}]}}'''
/// ```
///
/// MessageBird / Bird (legacy REST API):
///
/// ```toml
/// [sms.http]
/// url = "https://rest.messagebird.com/messages"
/// voice_url = "https://rest.messagebird.com/voicemessages"
/// auth_header = "Authorization"
/// auth_value = "AccessKey live_xxxxxxxx"
/// sms_body = '{"originator": "Poortwachter", "recipients": ["{{to_digits}}"], "body": "{{text}}"}'
/// voice_body = '{"recipients": ["{{to_digits}}"], "body": "{{text}}", "language": "nl-nl", "voice": "female"}'
/// ```
///
/// Twilio (form-encoded API, HTTP Basic auth with base64 of `AccountSid:AuthToken`). The voice
/// text is put into TwiML verbatim, so keep voice texts free of `<` and `&`:
///
/// ```toml
/// [sms.http]
/// encoding = "form"
/// url = "https://api.twilio.com/2010-04-01/Accounts/ACxxxxxxxx/Messages.json"
/// voice_url = "https://api.twilio.com/2010-04-01/Accounts/ACxxxxxxxx/Calls.json"
/// auth_header = "Authorization"
/// auth_value = "Basic QUN4eHh4eHh4eDp0b2tlbg=="
/// sms_body = '{"To": "{{to}}", "From": "+3197010000000", "Body": "{{text}}"}'
/// voice_body = '{"To": "{{to}}", "From": "+3197010000000", "Twiml": "<Response><Say language=\"nl-NL\">{{text}}</Say></Response>"}'
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpGatewayConfig {
    /// Endpoint for SMS (and for voice unless `voice_url` is set). `http` or `https`.
    pub url: String,
    /// Endpoint for voice calls; defaults to `url`.
    pub voice_url: Option<String>,
    /// Name of the authentication header, e.g. `Authorization` or `X-CM-PRODUCTTOKEN`.
    pub auth_header: Option<String>,
    /// Value of the authentication header, e.g. `Bearer xyz`. Secret: redacted in `Debug`.
    pub auth_value: Option<String>,
    /// JSON body template for SMS.
    pub sms_body: String,
    /// JSON body template for voice calls.
    pub voice_body: String,
    /// Total request timeout in milliseconds (connect + send + response headers). Must be > 0.
    pub timeout_ms: u64,
    /// `json` (default) or `form`.
    pub encoding: BodyEncoding,
}

/// Default SMS body template.
pub const DEFAULT_SMS_BODY: &str = r#"{"to":"{{to}}","text":"{{text}}"}"#;
/// Default voice body template.
pub const DEFAULT_VOICE_BODY: &str = r#"{"to":"{{to}}","text":"{{text}}","channel":"voice"}"#;

impl Default for HttpGatewayConfig {
    fn default() -> Self {
        HttpGatewayConfig {
            url: String::new(),
            voice_url: None,
            auth_header: None,
            auth_value: None,
            sms_body: DEFAULT_SMS_BODY.to_owned(),
            voice_body: DEFAULT_VOICE_BODY.to_owned(),
            timeout_ms: 10_000,
            encoding: BodyEncoding::Json,
        }
    }
}

impl fmt::Debug for HttpGatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGatewayConfig")
            .field("url", &self.url)
            .field("voice_url", &self.voice_url)
            .field("auth_header", &self.auth_header)
            .field("auth_value", &self.auth_value.as_ref().map(|_| "<redacted>"))
            .field("sms_body", &self.sms_body)
            .field("voice_body", &self.voice_body)
            .field("timeout_ms", &self.timeout_ms)
            .field("encoding", &self.encoding)
            .finish()
    }
}

/// An invalid [`HttpGatewayConfig`]. Never contains `auth_value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayConfigError {
    #[error("url is not set")]
    MissingUrl,
    #[error("{field} is not a valid http(s) URL: {reason}")]
    BadUrl { field: &'static str, reason: String },
    #[error("{field} is not a valid body template: {reason}")]
    BadTemplate { field: &'static str, reason: String },
    #[error("{0}")]
    BadAuth(&'static str),
    #[error("timeout_ms must be greater than 0")]
    BadTimeout,
    #[error("could not create HTTP client: {0}")]
    Client(String),
}

// ---------------------------------------------------------------------------------------------
// Body templates
// ---------------------------------------------------------------------------------------------

/// Values substituted into a template.
struct Vars<'a> {
    to: &'a str,
    to_digits: &'a str,
    text: &'a str,
}

impl<'a> Vars<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        match name {
            "to" => Some(self.to),
            "to_digits" => Some(self.to_digits),
            "text" => Some(self.text),
            _ => None,
        }
    }
}

/// Replace `{{name}}` in `s` in a single left-to-right pass: inserted values are never rescanned.
/// `lookup` returns `None` for unknown names, which are then kept literally.
fn substitute<'v>(s: &str, mut lookup: impl FnMut(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let replacement = after.find("}}").and_then(|end| lookup(after[..end].trim()).map(|v| (v, end)));
        match replacement {
            Some((value, end)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A validated body template.
#[derive(Debug, Clone)]
struct Template {
    value: Value,
}

impl Template {
    fn parse(field: &'static str, text: &str, encoding: BodyEncoding) -> Result<Self, GatewayConfigError> {
        let bad = |reason: String| GatewayConfigError::BadTemplate { field, reason };
        let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;

        if encoding == BodyEncoding::Form {
            let Value::Object(map) = &value else {
                return Err(bad("with encoding \"form\" the template must be a JSON object".into()));
            };
            if let Some((key, _)) =
                map.iter().find(|(_, v)| !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
            {
                return Err(bad(format!(
                    "with encoding \"form\" every member must be a string, number or boolean (\"{key}\" is not)"
                )));
            }
        }

        let mut seen: Vec<String> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut in_key = false;
        walk_strings(&value, &mut |s, is_key| {
            substitute(s, |name| {
                if is_key {
                    in_key = true;
                } else if matches!(name, "to" | "to_digits" | "text") {
                    seen.push(name.to_owned());
                } else {
                    unknown.push(name.to_owned());
                }
                None
            });
        });
        if in_key {
            return Err(bad("placeholders are only replaced in string values, not in object keys".into()));
        }
        if let Some(name) = unknown.first() {
            return Err(bad(format!(
                "unknown placeholder {{{{{name}}}}} (known: {{{{to}}}}, {{{{to_digits}}}}, {{{{text}}}})"
            )));
        }
        if !seen.iter().any(|n| n == "text") {
            return Err(bad("must contain {{text}}".into()));
        }
        if !seen.iter().any(|n| n == "to" || n == "to_digits") {
            return Err(bad("must contain {{to}} or {{to_digits}}".into()));
        }
        Ok(Template { value })
    }

    fn render(&self, vars: &Vars<'_>) -> Value {
        let mut value = self.value.clone();
        replace_in_strings(&mut value, vars);
        value
    }
}

/// Call `f(string, is_object_key)` for every string value and object key in `value`.
fn walk_strings(value: &Value, f: &mut impl FnMut(&str, bool)) {
    match value {
        Value::String(s) => f(s, false),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => {
            for (k, v) in map {
                f(k, true);
                walk_strings(v, f);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn replace_in_strings(value: &mut Value, vars: &Vars<'_>) {
    match value {
        Value::String(s) => {
            if s.contains("{{") {
                *s = substitute(s, |name| vars.get(name));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_in_strings(v, vars)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_in_strings(v, vars)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Flatten a rendered (validated flat object) template into form fields.
fn form_fields(value: &Value) -> Vec<(String, String)> {
    let Value::Object(map) = value else {
        return Vec::new();
    };
    map.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// HttpGateway
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Endpoint {
    url: Url,
    template: Template,
}

/// Sends codes through an HTTP SMS/voice gateway; see [`HttpGatewayConfig`] for configuration
/// and provider examples.
///
/// Each message is one `POST` with the rendered template as body, the configured auth header
/// (marked sensitive) and the configured timeout. A 2xx answer is success; any other status is
/// [`SendError::Rejected`] (the response body is neither kept nor logged); connection errors and
/// timeouts are [`SendError::Unavailable`]. There are no retries: the caller decides.
///
/// Gateways that answer 2xx for per-recipient failures (error in the JSON body) are reported as
/// success.
#[derive(Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    sms: Endpoint,
    voice: Endpoint,
    auth: Option<(HeaderName, HeaderValue)>,
    encoding: BodyEncoding,
}

impl fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGateway")
            .field("sms_url", &self.sms.url.as_str())
            .field("voice_url", &self.voice.url.as_str())
            .field("auth_header", &self.auth.as_ref().map(|(name, _)| name))
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

fn parse_url(field: &'static str, raw: &str) -> Result<Url, GatewayConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| GatewayConfigError::BadUrl { field, reason: e.to_string() })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(GatewayConfigError::BadUrl { field, reason: "scheme must be http or https, with a host".into() });
    }
    if url.scheme() == "http" && !matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) {
        tracing::warn!(field, "sms gateway url uses plain http: codes and credentials travel unencrypted");
    }
    Ok(url)
}

impl HttpGateway {
    /// Validate the configuration (URLs, templates, auth header, timeout) and build the client.
    pub fn new(config: HttpGatewayConfig) -> Result<Self, GatewayConfigError> {
        if config.url.trim().is_empty() {
            return Err(GatewayConfigError::MissingUrl);
        }
        let sms_url = parse_url("url", &config.url)?;
        let voice_url = match config.voice_url.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => parse_url("voice_url", raw)?,
            _ => sms_url.clone(),
        };
        let sms_template = Template::parse("sms_body", &config.sms_body, config.encoding)?;
        let voice_template = Template::parse("voice_body", &config.voice_body, config.encoding)?;

        let auth = match (config.auth_header.as_deref(), config.auth_value.as_deref()) {
            (None, None) => None,
            (Some(_), None) => return Err(GatewayConfigError::BadAuth("auth_header is set but auth_value is missing")),
            (name, Some(value)) => {
                let name = HeaderName::from_bytes(name.unwrap_or("Authorization").trim().as_bytes())
                    .map_err(|_| GatewayConfigError::BadAuth("auth_header is not a valid HTTP header name"))?;
                let mut value = HeaderValue::from_str(value.trim())
                    .map_err(|_| GatewayConfigError::BadAuth("auth_value is not a valid HTTP header value"))?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };

        if config.timeout_ms == 0 {
            return Err(GatewayConfigError::BadTimeout);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GatewayConfigError::Client(e.to_string()))?;

        Ok(HttpGateway {
            client,
            sms: Endpoint { url: sms_url, template: sms_template },
            voice: Endpoint { url: voice_url, template: voice_template },
            auth,
            encoding: config.encoding,
        })
    }
}

/// Describe a transport error without URL (which may carry credentials) and without body.
fn unavailable(err: reqwest::Error) -> SendError {
    let err = err.without_url();
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // The innermost cause (e.g. "Connection refused (os error 111)") is the informative part.
    let mut root = std::error::Error::source(&err);
    while let Some(next) = root.and_then(std::error::Error::source) {
        root = Some(next);
    }
    SendError::Unavailable(match root {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    })
}

#[async_trait]
impl CodeSender for HttpGateway {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let to_digits = message
            .to
            .strip_prefix('+')
            .filter(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(SendError::InvalidRecipient)?;
        let endpoint = match message.channel {
            Channel::Sms => &self.sms,
            Channel::Voice => &self.voice,
        };
        let body = endpoint.template.render(&Vars { to: &message.to, to_digits, text: &message.text });

        let mut request = self.client.post(endpoint.url.clone());
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        request = match self.encoding {
            BodyEncoding::Json => request.json(&body),
            BodyEncoding::Form => request.form(&form_fields(&body)),
        };

        let response = request.send().await.map_err(|e| {
            let err = unavailable(e);
            tracing::warn!(channel = %message.channel, error = %err, "sms gateway request failed");
            err
        })?;
        let status = response.status();
        // The body is dropped unread: it may echo the message.
        drop(response);
        if status.is_success() {
            tracing::debug!(channel = %message.channel, status = status.as_u16(), "sms gateway accepted message");
            Ok(())
        } else {
            tracing::warn!(channel = %message.channel, status = status.as_u16(), "sms gateway rejected message");
            Err(SendError::Rejected(status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::Router;
    use serde_json::json;

    const TRICKY: &str = "Zeg \"hoi\" \\ {{to}} {{text}} {{ to_digits }} }}{{ {{\nregel 2\t\u{1F600} </Say>&";

    fn vars(text: &str) -> Vars<'_> {
        Vars { to: "+31612345678", to_digits: "31612345678", text }
    }

    #[test]
    fn substitute_is_single_pass() {
        let v = vars("{{to}}");
        assert_eq!(substitute("a{{text}}b{{to}}c", |n| v.get(n)), "a{{to}}b+31612345678c");
        assert_eq!(substitute("00{{ to_digits }}", |n| v.get(n)), "0031612345678");
        assert_eq!(substitute("{{nope}} {{to", |n| v.get(n)), "{{nope}} {{to");
        assert_eq!(substitute("}}{{{{to}}", |n| v.get(n)), "}}{{+31612345678");
        assert_eq!(substitute("", |n| v.get(n)), "");
    }

    #[test]
    fn renders_tricky_text_as_valid_json() {
        let template = Template::parse(
            "sms_body",
            r#"{"to":"{{to}}","digits":"00{{to_digits}}","text":"{{text}}","nested":[{"t":"<{{text}}>"}],"n":1,"b":true,"z":null}"#,
            BodyEncoding::Json,
        )
        .expect("valid template");
        let rendered = template.render(&vars(TRICKY));
        let serialised = serde_json::to_string(&rendered).expect("serialises");
        let reparsed: Value = serde_json::from_str(&serialised).expect("output is valid JSON");
        assert_eq!(
            reparsed,
            json!({
                "to": "+31612345678",
                "digits": "0031612345678",
                "text": TRICKY,
                "nested": [{"t": format!("<{TRICKY}>")}],
                "n": 1, "b": true, "z": null
            })
        );
    }

    #[test]
    fn renders_default_and_provider_templates() {
        let t = Template::parse("sms_body", DEFAULT_SMS_BODY, BodyEncoding::Json).expect("default");
        assert_eq!(t.render(&vars("hi")), json!({"to": "+31612345678", "text": "hi"}));
        let t = Template::parse("voice_body", DEFAULT_VOICE_BODY, BodyEncoding::Json).expect("default");
        assert_eq!(t.render(&vars("hi")), json!({"to": "+31612345678", "text": "hi", "channel": "voice"}));

        let cm = r#"{"messages": {"authentication": {"producttoken": "tok"},
            "msg": [{"from": "Poortwachter", "to": [{"number": "00{{to_digits}}"}], "body": {"content": "{{text}}"}}]}}"#;
        let t = Template::parse("sms_body", cm, BodyEncoding::Json).expect("cm template");
        assert_eq!(t.render(&vars("x"))["messages"]["msg"][0]["to"][0]["number"], json!("0031612345678"));
    }

    #[test]
    fn rejects_bad_templates_by_name() {
        let err = |field, text, enc| Template::parse(field, text, enc).err().map(|e| e.to_string()).unwrap_or_default();
        let e = err("sms_body", r#"{"to":"{{to}}","text":"{{text}}""#, BodyEncoding::Json);
        assert!(e.starts_with("sms_body is not a valid body template: invalid JSON"), "{e}");
        let e = err("voice_body", r#"{"to":"{{phone}}","text":"{{text}}"}"#, BodyEncoding::Json);
        assert!(e.contains("voice_body") && e.contains("unknown placeholder {{phone}}"), "{e}");
        let e = err("sms_body", r#"{"to":"{{to}}"}"#, BodyEncoding::Json);
        assert!(e.contains("must contain {{text}}"), "{e}");
        let e = err("sms_body", r#"{"text":"{{text}}"}"#, BodyEncoding::Json);
        assert!(e.contains("must contain {{to}}"), "{e}");
        let e = err("sms_body", r#"{"{{to}}":"{{text}}"}"#, BodyEncoding::Json);
        assert!(e.contains("object keys"), "{e}");
        let e = err("sms_body", r#"{"to":"{{to}}","m":{"text":"{{text}}"}}"#, BodyEncoding::Form);
        assert!(e.contains("\"m\" is not"), "{e}");
        let e = err("sms_body", r#"["{{to}}","{{text}}"]"#, BodyEncoding::Form);
        assert!(e.contains("must be a JSON object"), "{e}");
    }

    #[test]
    fn rejects_bad_gateway_config() {
        let base = || HttpGatewayConfig { url: "https://gw.example/sms".into(), ..HttpGatewayConfig::default() };
        let new = |c: HttpGatewayConfig| HttpGateway::new(c).err();
        assert_eq!(new(HttpGatewayConfig::default()), Some(GatewayConfigError::MissingUrl));
        assert!(matches!(
            new(HttpGatewayConfig { url: "ftp://x/".into(), ..base() }),
            Some(GatewayConfigError::BadUrl { field: "url", .. })
        ));
        assert!(matches!(
            new(HttpGatewayConfig { voice_url: Some("not a url".into()), ..base() }),
            Some(GatewayConfigError::BadUrl { field: "voice_url", .. })
        ));
        assert!(matches!(
            new(HttpGatewayConfig { auth_header: Some("X-Key".into()), ..base() }),
            Some(GatewayConfigError::BadAuth(_))
        ));
        let e = new(HttpGatewayConfig { auth_value: Some("Bearer se\ncret".into()), ..base() });
        assert!(matches!(&e, Some(GatewayConfigError::BadAuth(_))) && !format!("{e:?}").contains("cret"));
        assert_eq!(new(HttpGatewayConfig { timeout_ms: 0, ..base() }), Some(GatewayConfigError::BadTimeout));
        assert!(new(base()).is_none());
        assert!(new(HttpGatewayConfig { voice_url: Some(String::new()), ..base() }).is_none());
    }

    // ---- fake gateway -------------------------------------------------------------------------

    #[derive(Debug, Clone)]
    struct Recorded {
        method: Method,
        path: String,
        headers: HeaderMap,
        body: Bytes,
    }

    #[derive(Clone, Default)]
    struct Fake {
        log: Arc<Mutex<Vec<Recorded>>>,
    }

    impl Fake {
        fn requests(&self) -> Vec<Recorded> {
            self.log.lock().map(|l| l.clone()).unwrap_or_default()
        }
    }

    async fn record(
        State(fake): State<Fake>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, String) {
        let path = uri.path().to_owned();
        if let Ok(mut log) = fake.log.lock() {
            log.push(Recorded { method, path: path.clone(), headers, body });
        }
        match path.as_str() {
            "/reject" => (StatusCode::UNPROCESSABLE_ENTITY, "invalid recipient +31612345678, text 123456".into()),
            "/redirect" => (StatusCode::FOUND, String::new()),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                (StatusCode::OK, String::new())
            }
            _ => (StatusCode::OK, r#"{"status":"queued"}"#.into()),
        }
    }

    /// Start the fake gateway on 127.0.0.1:<random>; returns its recorder and base URL.
    async fn fake_gateway() -> (Fake, String) {
        let fake = Fake::default();
        let app = Router::new().fallback(record).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (fake, format!("http://{addr}"))
    }

    fn sms(text: &str) -> OutgoingMessage {
        OutgoingMessage { to: "+31612345678".into(), channel: Channel::Sms, text: text.into() }
    }

    fn json_body(r: &Recorded) -> Value {
        serde_json::from_slice(&r.body).expect("gateway received valid JSON")
    }

    fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
        r.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Minimal application/x-www-form-urlencoded decoder for assertions.
    fn form_decode(body: &[u8]) -> Vec<(String, String)> {
        fn dec(s: &str) -> String {
            let bytes = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                        out.push(u8::from_str_radix(hex, 16).expect("hex digit"));
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).expect("utf8")
        }
        let body = std::str::from_utf8(body).expect("utf8 body");
        body.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (dec(k), dec(v))
            })
            .collect()
    }

    #[tokio::test]
    async fn posts_rendered_json_with_auth_header() {
        let (fake, base) = fake_gateway().await;
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: format!("{base}/sms"),
            auth_header: Some("X-CM-PRODUCTTOKEN".into()),
            auth_value: Some("tok-123".into()),
            sms_body: r#"{"number":"00{{to_digits}}","e164":"{{to}}","content":"{{text}}","n":[1]}"#.into(),
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");

        gateway.send(&sms(TRICKY)).await.expect("sent");

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/sms");
        assert_eq!(header(r, "x-cm-producttoken"), Some("tok-123"));
        assert_eq!(header(r, "content-type"), Some("application/json"));
        assert_eq!(
            json_body(r),
            json!({"number": "0031612345678", "e164": "+31612345678", "content": TRICKY, "n": [1]})
        );
    }

    #[tokio::test]
    async fn default_auth_header_is_authorization() {
        let (fake, base) = fake_gateway().await;
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: base,
            auth_value: Some("Bearer xyz".into()),
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");
        gateway.send(&sms("Uw code is 123456")).await.expect("sent");
        let reqs = fake.requests();
        assert_eq!(header(&reqs[0], "authorization"), Some("Bearer xyz"));
        assert_eq!(json_body(&reqs[0]), json!({"to": "+31612345678", "text": "Uw code is 123456"}));
    }

    #[tokio::test]
    async fn voice_uses_voice_url_and_voice_body() {
        let (fake, base) = fake_gateway().await;
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: format!("{base}/sms"),
            voice_url: Some(format!("{base}/voice")),
            voice_body: r#"{"callee":"{{to}}","prompt":"{{text}}","prompt-type":"TTS"}"#.into(),
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");
        let msg = OutgoingMessage { to: "+31201234567".into(), channel: Channel::Voice, text: "1 2 3 4 5 6".into() };
        gateway.send(&msg).await.expect("sent");
        gateway.send(&sms("sms")).await.expect("sent");

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].path, "/voice");
        assert_eq!(
            json_body(&reqs[0]),
            json!({"callee": "+31201234567", "prompt": "1 2 3 4 5 6", "prompt-type": "TTS"})
        );
        assert_eq!(reqs[1].path, "/sms");
        assert_eq!(json_body(&reqs[1]), json!({"to": "+31612345678", "text": "sms"}));
    }

    #[tokio::test]
    async fn voice_defaults_to_url_and_default_voice_body() {
        let (fake, base) = fake_gateway().await;
        let gateway =
            HttpGateway::new(HttpGatewayConfig { url: format!("{base}/send"), ..HttpGatewayConfig::default() })
                .expect("gateway");
        let msg = OutgoingMessage { to: "+31201234567".into(), channel: Channel::Voice, text: "code".into() };
        gateway.send(&msg).await.expect("sent");
        let reqs = fake.requests();
        assert_eq!(reqs[0].path, "/send");
        assert_eq!(json_body(&reqs[0]), json!({"to": "+31201234567", "text": "code", "channel": "voice"}));
    }

    #[tokio::test]
    async fn form_encoding_posts_form_fields() {
        let (fake, base) = fake_gateway().await;
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: format!("{base}/Messages.json"),
            encoding: BodyEncoding::Form,
            auth_header: Some("Authorization".into()),
            auth_value: Some("Basic QUM6dG9r".into()),
            sms_body: r#"{"To":"{{to}}","From":"+3197010000000","Body":"{{text}}","Attempt":1,"Flag":true}"#.into(),
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");
        gateway.send(&sms(TRICKY)).await.expect("sent");

        let reqs = fake.requests();
        let r = &reqs[0];
        assert_eq!(header(r, "content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(header(r, "authorization"), Some("Basic QUM6dG9r"));
        let mut fields = form_decode(&r.body);
        fields.sort();
        let mut expected: Vec<(String, String)> =
            [("To", "+31612345678"), ("From", "+3197010000000"), ("Body", TRICKY), ("Attempt", "1"), ("Flag", "true")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        expected.sort();
        assert_eq!(fields, expected);
    }

    #[tokio::test]
    async fn non_2xx_is_rejected_without_body_echo() {
        let (_fake, base) = fake_gateway().await;
        let gateway =
            HttpGateway::new(HttpGatewayConfig { url: format!("{base}/reject"), ..HttpGatewayConfig::default() })
                .expect("gateway");
        let err = gateway.send(&sms("Uw code is 123456")).await.expect_err("must fail");
        assert!(matches!(err, SendError::Rejected(422)), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("123456") && !shown.contains("invalid recipient"), "{shown}");

        let gateway =
            HttpGateway::new(HttpGatewayConfig { url: format!("{base}/redirect"), ..HttpGatewayConfig::default() })
                .expect("gateway");
        let err = gateway.send(&sms("x")).await.expect_err("redirect is not followed");
        assert!(matches!(err, SendError::Rejected(302)), "{err:?}");
    }

    #[tokio::test]
    async fn gateway_down_is_unavailable() {
        // Reserve a port, then close it so nothing listens there.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: format!("http://{addr}/sms"),
            auth_value: Some("Bearer very-secret".into()),
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");
        let err = gateway.send(&sms("Uw code is 123456")).await.expect_err("must fail");
        assert!(matches!(err, SendError::Unavailable(_)), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("123456") && !shown.contains("very-secret"), "{shown}");
    }

    #[tokio::test]
    async fn timeout_is_unavailable() {
        let (_fake, base) = fake_gateway().await;
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: format!("{base}/slow"),
            timeout_ms: 200,
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");
        let err = gateway.send(&sms("x")).await.expect_err("must time out");
        assert!(matches!(&err, SendError::Unavailable(reason) if reason.starts_with("timed out")), "{err:?}");
    }

    #[tokio::test]
    async fn refuses_non_e164_recipient_before_sending() {
        let (fake, base) = fake_gateway().await;
        let gateway =
            HttpGateway::new(HttpGatewayConfig { url: base, ..HttpGatewayConfig::default() }).expect("gateway");
        for to in ["0612345678", "+", "+31 6 12345678", "+1234567890123456", "+31612345678\"}"] {
            let msg = OutgoingMessage { to: to.into(), channel: Channel::Sms, text: "x".into() };
            assert!(matches!(gateway.send(&msg).await, Err(SendError::InvalidRecipient)), "{to:?}");
        }
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn gateway_debug_hides_credentials() {
        let gateway = HttpGateway::new(HttpGatewayConfig {
            url: "https://gw.example/sms".into(),
            auth_value: Some("Bearer very-secret".into()),
            ..HttpGatewayConfig::default()
        })
        .expect("gateway");
        let dbg = format!("{gateway:?}");
        assert!(!dbg.contains("very-secret") && dbg.contains("gw.example"), "{dbg}");
    }
}
