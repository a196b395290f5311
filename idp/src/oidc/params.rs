//! Request parameters (`application/x-www-form-urlencoded`, RFC 6749 Appendix B).
//!
//! RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than once."
//! Serde's form decoding silently keeps one of the duplicates, so parameters are read into
//! [`Params`], which remembers duplicates and refuses oversized values up front.
//! Appendix B: names and values are UTF-8, then percent-encoded. `form_urlencoded` would replace
//! bytes that are not UTF-8 with U+FFFD; such input is refused instead, so what a parameter holds
//! is always what was sent.

use std::collections::HashMap;

use super::error::OAuthError;

/// The longest single parameter value we read; longer ones are refused without further work.
pub const MAX_VALUE_LEN: usize = 4096;
/// The most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    duplicated: Vec<String>,
}

impl Params {
    /// Parses a query string or form body.
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        // Separators are ASCII, so the whole input decodes to UTF-8 exactly when every name and
        // value does.
        if percent_encoding::percent_decode(input).decode_utf8().is_err() {
            return Err(OAuthError::invalid_request("parameters must be UTF-8"));
        }
        let mut params = Params::default();
        for (count, (key, value)) in form_urlencoded::parse(input).enumerate() {
            if count >= MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if value.len() > MAX_VALUE_LEN || key.len() > 128 {
                return Err(OAuthError::invalid_request("a parameter is too long"));
            }
            // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
            if value.is_empty() {
                continue;
            }
            if params.values.contains_key(key.as_ref()) {
                params.duplicated.push(key.into_owned());
            } else {
                params.values.insert(key.into_owned(), value.into_owned());
            }
        }
        Ok(params)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn is_duplicated(&self, key: &str) -> bool {
        self.duplicated.iter().any(|k| k == key)
    }

    /// Fails when any parameter appeared more than once.
    pub fn reject_duplicates(&self) -> Result<(), OAuthError> {
        match self.duplicated.first() {
            Some(_) => Err(OAuthError::invalid_request("a parameter was sent more than once")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_noticed() {
        let p = Params::parse(b"a=1&b=2&a=3").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert!(p.is_duplicated("a"));
        assert!(p.reject_duplicates().is_err());
    }

    #[test]
    fn empty_values_count_as_absent() {
        let p = Params::parse(b"a=&b=2").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("2"));
    }

    #[test]
    fn what_is_not_utf8_is_refused() {
        assert!(Params::parse(b"a=%FF%FE").is_err());
        assert!(Params::parse(b"a=\xff").is_err());
        assert!(Params::parse(b"a=%C3&b=%A9").is_err(), "a character split over two values");
        let p = Params::parse("a=%C3%A9&b=\u{e9}&c=%0A".as_bytes()).unwrap();
        assert_eq!((p.get("a"), p.get("b"), p.get("c")), (Some("\u{e9}"), Some("\u{e9}"), Some("\n")));
    }

    #[test]
    fn oversized_values_are_refused() {
        let long = format!("a={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert!(Params::parse(long.as_bytes()).is_err());
    }
}
