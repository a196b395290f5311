//! Which claims each scope releases (OIDC Core §5.4), for the userinfo endpoint.

use serde_json::{json, Map, Value};

use crate::domain::Scopes;
use crate::store::Account;

/// The scopes this IdP understands. A client is registered with a subset.
/// The sections of a client portal (`domain::representation::Section`) are scopes too.
pub const SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "messages",
    "appointments",
    "dossier",
    "personal_data",
    "settings",
    "user_management",
];

/// OIDC Core §5.3.2 userinfo response for an account and the token's scopes.
pub fn userinfo(account: &Account, scope: &Scopes) -> Value {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(account.subject.as_str()));
    if scope.contains("profile") {
        claims.insert("name".into(), json!(format!("{} {}", account.given_name, account.family_name).trim()));
        claims.insert("given_name".into(), json!(account.given_name));
        claims.insert("family_name".into(), json!(account.family_name));
        claims.insert("preferred_username".into(), json!(account.username));
        if let Some(birth_date) = &account.birth_date {
            claims.insert("birthdate".into(), json!(birth_date));
        }
    }
    if scope.contains("email") {
        if let Some(email) = &account.email {
            claims.insert("email".into(), json!(email));
            claims.insert("email_verified".into(), json!(account.email_verified));
        }
    }
    Value::Object(claims)
}
