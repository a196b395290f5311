//! People's names, usernames, e-mail addresses and birth dates.

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::Date;
use unicode_normalization::UnicodeNormalization;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

/// A username as typed, plus the forms that uniqueness uses:
/// - `normalised`, for sign-in and "taken": Unicode NFKC, lower case, surrounding whitespace
///   removed, inner whitespace collapsed;
/// - `skeleton`, for "looks like a name that is taken": the confusable skeleton of Unicode
///   TS #39 §4, so `јаn` (Cyrillic), `jan` and `jаn` share one.
///
/// Refused (TS #39 §5): invisible (default-ignorable) characters, letters from scripts that may
/// not mix at the "highly restrictive" level (Latin with Cyrillic, say), and characters outside the
/// identifier profile (symbols, emoji) apart from the ASCII punctuation and spaces that logins
/// such as e-mail addresses need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username {
    display: String,
    normalised: String,
    skeleton: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsernameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 64 characters")]
    TooLong,
    #[error("contains a control character")]
    Control,
    #[error("contains an invisible character (U+{:04X}); type the name again without it", u32::from(*.0))]
    Invisible(char),
    #[error("mixes letters of different scripts (such as Latin and Cyrillic); use letters of one script")]
    MixedScripts,
    #[error("contains a character that cannot be part of a username (U+{:04X})", u32::from(*.0))]
    NotAllowed(char),
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
        // Checked before NFKC, which keeps some of these and changes others into one another.
        if let Some(c) = display.chars().find(|&c| is_invisible(c)) {
            return Err(UsernameError::Invisible(c));
        }
        let normalised = Self::normalise(&display);
        check_scripts(&normalised)?;
        Ok(Self { skeleton: Self::skeleton_of(&display), normalised, display })
    }

    /// The key used for uniqueness, lookup and throttling.
    pub fn normalise(value: &str) -> String {
        let nfkc: String = value.nfkc().collect();
        nfkc.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }

    /// The key that look-alikes share: the TS #39 skeleton of the name as shown, in lower case.
    /// The skeleton is taken of the shown form, not the lower-case one, because capitals are
    /// where many look-alikes are (`I` and `l`); it is then folded to lower case (the skeleton
    /// maps `0` to `O`, for one) and skeletonised again, as folding can yield new confusables.
    pub fn skeleton_of(display: &str) -> String {
        let nfkc: String = display.nfkc().collect();
        let first: String = unicode_security::skeleton(&nfkc).collect::<String>().to_lowercase();
        unicode_security::skeleton(&first).collect()
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }
}

/// Default-ignorable code points (zero-width space and joiners, soft hyphen, bidi controls,
/// variation selectors, Hangul fillers, tags …): they show as nothing, so two names that differ
/// only by one look the same. The crate keeps its Default_Ignorable_Code_Point table private but
/// applies it in the skeleton, which drops exactly those (no confusable maps to nothing); the
/// Identifier_Type alone would miss the unassigned and deprecated ones.
fn is_invisible(c: char) -> bool {
    let mut buf = [0u8; 4];
    c.identifier_type() == Some(IdentifierType::Default_Ignorable)
        || unicode_security::skeleton(c.encode_utf8(&mut buf)).next().is_none()
}

/// TS #39 §5.2: the name must reach the "highly restrictive" level: one script, or Latin with
/// Han and Japanese kana, Han and Bopomofo, or Han and Hangul. Space and ASCII punctuation are
/// left out of the check: they belong to every script, and logins need them (`@`, `.`, `-`).
fn check_scripts(normalised: &str) -> Result<(), UsernameError> {
    let letters: String = normalised.chars().filter(|c| c.is_ascii_alphanumeric() || !c.is_ascii()).collect();
    if let Some(c) = letters.chars().find(|&c| !c.identifier_allowed()) {
        return Err(UsernameError::NotAllowed(c));
    }
    if letters.as_str().check_restriction_level(RestrictionLevel::HighlyRestrictive) {
        Ok(())
    } else {
        Err(UsernameError::MixedScripts)
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

    pub fn date(&self) -> Date {
        self.0
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
    fn ordinary_names_and_logins_are_accepted() {
        for name in [
            "Jan Jansen",
            "j.jansen@zorg.example",
            "fatima@example.nl-42",
            "O'Brien_2",
            "José Müller",
            "Ærøskøbing",
            "Øystein",
            "Ålesund+test",
            "Σωκράτης",
            "Дмитрий",
            "山田太郎",
            "山田たろう",
            "ＪＡＮ",
        ] {
            assert!(Username::parse(name).is_ok(), "{name}: {:?}", Username::parse(name));
        }
    }

    #[test]
    fn invisible_characters_are_refused() {
        for (name, c) in [
            ("jan\u{200B}jansen", '\u{200B}'), // zero-width space
            ("jan\u{AD}jansen", '\u{AD}'),     // soft hyphen
            ("jan\u{200D}", '\u{200D}'),       // zero-width joiner
            ("\u{FEFF}jan", '\u{FEFF}'),       // byte order mark
            ("jan\u{2060}", '\u{2060}'),       // word joiner
            ("ja\u{34F}n", '\u{34F}'),         // combining grapheme joiner
            ("jan\u{FE0F}", '\u{FE0F}'),       // variation selector
            ("jan\u{202E}", '\u{202E}'),       // right-to-left override
            ("jan\u{3164}", '\u{3164}'),       // Hangul filler
            ("jan\u{E0001}", '\u{E0001}'),     // language tag
            ("jan\u{206A}", '\u{206A}'),       // deprecated: inhibit symmetric swapping
        ] {
            assert_eq!(Username::parse(name), Err(UsernameError::Invisible(c)), "{}", name.escape_unicode());
        }
        let message = UsernameError::Invisible('\u{200B}').to_string();
        assert!(message.contains("U+200B"), "{message}");
    }

    #[test]
    fn mixed_scripts_are_refused() {
        // Cyrillic а (U+0430) among Latin letters; Greek ο (U+03BF) likewise.
        assert_eq!(Username::parse("j\u{430}n"), Err(UsernameError::MixedScripts));
        assert_eq!(Username::parse("r\u{3BF}b"), Err(UsernameError::MixedScripts));
        // A whole name in Cyrillic is one script, so it is accepted here: the skeleton catches it.
        let all_cyrillic = Username::parse("\u{441}\u{43E}\u{440}").unwrap(); // сор
        assert_eq!(all_cyrillic.skeleton(), Username::parse("cop").unwrap().skeleton());
    }

    #[test]
    fn symbols_outside_the_identifier_profile_are_refused() {
        assert_eq!(Username::parse("jan\u{2713}"), Err(UsernameError::NotAllowed('\u{2713}')));
        assert_eq!(Username::parse("jan\u{1F600}"), Err(UsernameError::NotAllowed('\u{1F600}')));
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let skeleton = |name: &str| Username::parse(name).unwrap().skeleton().to_string();
        let jan = skeleton("jan.jansen");
        // Dotless ı (Latin, so not mixed) for i.
        assert_eq!(skeleton("adm\u{131}n"), skeleton("admin"));
        // Wholly Cyrillic look-alikes of a Latin name.
        assert_eq!(skeleton("\u{430}\u{440}\u{435}"), skeleton("ape"));
        // Capital I, digit 1 and small l; digit 0 and letter o.
        assert_eq!(skeleton("biIl"), skeleton("bill"));
        assert_eq!(skeleton("bi1l"), skeleton("bill"));
        assert_eq!(skeleton("j0hn"), skeleton("john"));
        // The same name in another case or Unicode form.
        assert_eq!(skeleton("Jan.Jansen"), jan);
        assert_eq!(skeleton("ＪＡＮ.ＪＡＮＳＥＮ"), jan);
        assert_eq!(skeleton("jose\u{301}"), skeleton("jos\u{e9}"));
        // Different names stay apart.
        assert_ne!(skeleton("jan.janssen"), jan);
        assert_ne!(skeleton("piet"), jan);
        // The skeleton of a stored display name (start-up backfill) is the one parse gives.
        assert_eq!(Username::skeleton_of("Jan.Jansen"), jan);
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
