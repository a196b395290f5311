//! Redirect URIs as registered by a portal. Matching is exact string comparison
//! (OAuth 2.0 Security BCP, RFC 9700 §4.1.3), so the type only checks what may be registered.

use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedirectUriError {
    #[error("is not an absolute URL")]
    NotAbsolute,
    #[error("must not contain a fragment (#)")]
    Fragment,
    #[error("must use https (http only for localhost and 127.0.0.1)")]
    InsecureScheme,
    #[error("must not contain user information (user@host)")]
    UserInfo,
}

impl RedirectUri {
    /// Checks a URI for registration (RFC 6749 §3.1.2): absolute, no fragment, no user info,
    /// https except for loopback development hosts.
    pub fn parse(value: &str) -> Result<Self, RedirectUriError> {
        let url = Url::parse(value).map_err(|_| RedirectUriError::NotAbsolute)?;
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(RedirectUriError::NotAbsolute);
        }
        if url.fragment().is_some() || value.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::UserInfo);
        }
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(RedirectUriError::InsecureScheme),
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends response parameters to the query, keeping any query the URI was registered with.
    pub fn with_params<'a>(&self, params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        let mut url = Url::parse(&self.0).expect("registered redirect URIs are valid URLs");
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
        }
        url.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        assert!(RedirectUri::parse("https://portal.example/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:3000/cb").is_ok());
        assert_eq!(RedirectUri::parse("http://portal.example/cb"), Err(RedirectUriError::InsecureScheme));
        assert_eq!(RedirectUri::parse("https://portal.example/cb#x"), Err(RedirectUriError::Fragment));
        assert_eq!(RedirectUri::parse("https://a@portal.example/cb"), Err(RedirectUriError::UserInfo));
        assert_eq!(RedirectUri::parse("/cb"), Err(RedirectUriError::NotAbsolute));
    }

    #[test]
    fn params_are_appended_and_encoded() {
        let uri = RedirectUri::parse("https://portal.example/cb?tenant=1").unwrap();
        assert_eq!(
            uri.with_params([("code", "a b"), ("state", "x&y")]),
            "https://portal.example/cb?tenant=1&code=a+b&state=x%26y"
        );
    }
}
