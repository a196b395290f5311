//! People's names, usernames, e-mail addresses and birth dates.

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::Date;
use unicode_normalization::UnicodeNormalization;

/// A username as typed, plus the normalised form that uniqueness and sign-in use:
/// Unicode NFKC, lower case, surrounding whitespace removed, inner whitespace collapsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username {
    display: String,
    normalised: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsernameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 64 characters")]
    TooLong,
    #[error("contains a control character")]
    Control,
}

impl Username {
    pub fn parse(value: &str) -> Result<Self, UsernameError> {
        let display = value.split_whitespace().collect::<Vec<_>>().join(" ");
        if display.is_empty() {
            return Err(UsernameError::Empty);
        }
        if display.chars().count() > 64 {
            return Err(UsernameError::TooLong);
        }
        if display.chars().any(char::is_control) {
            return Err(UsernameError::Control);
        }
        Ok(Self { normalised: Self::normalise(&display), display })
    }

    /// The key used for uniqueness, lookup and throttling.
    pub fn normalise(value: &str) -> String {
        let nfkc: String = value.nfkc().collect();
        nfkc.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn normalised(&self) -> &str {
        &self.normalised
    }
}

/// An e-mail address, checked for shape only (delivery proves the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let (local, domain) = value.rsplit_once('@')?;
        let ok = value.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        ok.then(|| Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A birth date. Accepts the date picker's ISO form (`1950-03-31`) and the Dutch `31-03-1950`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BirthDate(Date);

impl BirthDate {
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let iso = format_description!("[year]-[month]-[day]");
        let dutch = format_description!("[day]-[month]-[year]");
        Date::parse(value, iso).or_else(|_| Date::parse(value, dutch)).ok().map(Self)
    }

    pub fn iso(&self) -> String {
        let iso = format_description!("[year]-[month]-[day]");
        self.0.format(iso).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_normalise_case_unicode_and_spaces() {
        let a = Username::parse("  Jan  Jansen ").unwrap();
        assert_eq!(a.display(), "Jan Jansen");
        assert_eq!(a.normalised(), "jan jansen");
        // FULLWIDTH LATIN letters fold to ASCII under NFKC.
        assert_eq!(Username::parse("ＪＡＮ").unwrap().normalised(), "jan");
        // é as one code point and as e + combining accent are the same user.
        assert_eq!(Username::normalise("jos\u{e9}"), Username::normalise("jose\u{301}"));
        assert_eq!(Username::parse("   "), Err(UsernameError::Empty));
    }

    #[test]
    fn birth_dates_in_both_forms() {
        assert_eq!(BirthDate::parse("1950-03-31").unwrap().iso(), "1950-03-31");
        assert_eq!(BirthDate::parse("31-03-1950").unwrap().iso(), "1950-03-31");
        assert!(BirthDate::parse("31/03/1950").is_none());
        assert!(BirthDate::parse("1950-02-30").is_none());
    }

    #[test]
    fn email_shape() {
        assert!(Email::parse("a.b@zorg.example").is_some());
        assert!(Email::parse("no-at-sign").is_none());
        assert!(Email::parse("a@b").is_none());
        assert!(Email::parse("a b@c.nl").is_none());
    }
}
