//! Password rules: one definition per organisation, checked on the server and described to the
//! page (whose script ticks each rule as it is met; the server stays the judge).
//!
//! The defaults follow NIST SP 800-63B §5.1.1.2: a minimum length, no composition rules, a
//! blocklist of common passwords, and nothing from the person's own data. An organisation may
//! add composition rules to match what its clients were told (journeys A and B need them).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The most common passwords (and Dutch favourites); compared case-insensitively.
const COMMON: &str = include_str!("common_passwords.txt");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordRules {
    /// In characters (Unicode scalar values), not bytes.
    pub min_length: usize,
    /// At least 64; nothing is ever truncated.
    pub max_length: usize,
    pub require_upper: bool,
    pub require_lower: bool,
    pub require_digit: bool,
    /// When set, at least one of these characters must appear (e.g. `!%&@#$^*?_~`).
    pub required_specials: Option<String>,
    /// Refuse passwords from the common-password list.
    pub blocklist: bool,
    /// Refuse passwords that contain the username, a name or the birth date.
    pub forbid_personal_data: bool,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            min_length: 10,
            max_length: 128,
            require_upper: false,
            require_lower: false,
            require_digit: false,
            required_specials: None,
            blocklist: true,
            forbid_personal_data: true,
        }
    }
}

/// One rule the password does not meet. The same names are used in the page's rule list
/// (`rule_<name>` texts in the locale files) and in its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    MinLength,
    MaxLength,
    Upper,
    Lower,
    Digit,
    Special,
    NotCommon,
    NoPersonalData,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::MinLength => "min_length",
            Rule::MaxLength => "max_length",
            Rule::Upper => "upper",
            Rule::Lower => "lower",
            Rule::Digit => "digit",
            Rule::Special => "special",
            Rule::NotCommon => "not_common",
            Rule::NoPersonalData => "no_personal_data",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    #[error("max_length must be at least 64 and at least min_length")]
    MaxLength,
    #[error("min_length must be at least 8")]
    MinLength,
    #[error("required_specials must not be empty or contain letters, digits or spaces")]
    Specials,
}

impl PasswordRules {
    /// Checks that an operator's rules are sane.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.min_length < 8 {
            return Err(RulesError::MinLength);
        }
        if self.max_length < 64 || self.max_length < self.min_length {
            return Err(RulesError::MaxLength);
        }
        if let Some(set) = &self.required_specials {
            if set.is_empty() || set.chars().any(|c| c.is_alphanumeric() || c.is_whitespace()) {
                return Err(RulesError::Specials);
            }
        }
        Ok(())
    }

    /// The rules that apply, in the order the page lists them.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules = vec![Rule::MinLength];
        if self.require_upper {
            rules.push(Rule::Upper);
        }
        if self.require_lower {
            rules.push(Rule::Lower);
        }
        if self.require_digit {
            rules.push(Rule::Digit);
        }
        if self.required_specials.is_some() {
            rules.push(Rule::Special);
        }
        if self.blocklist {
            rules.push(Rule::NotCommon);
        }
        if self.forbid_personal_data {
            rules.push(Rule::NoPersonalData);
        }
        rules
    }

    /// Every rule `password` breaks; empty when it is acceptable. `personal` holds the username,
    /// names and birth date forms that must not appear in it.
    pub fn check(&self, password: &str, personal: &[&str]) -> Vec<Rule> {
        let length = password.chars().count();
        let mut broken = Vec::new();
        if length < self.min_length {
            broken.push(Rule::MinLength);
        }
        if length > self.max_length {
            broken.push(Rule::MaxLength);
        }
        if self.require_upper && !password.chars().any(char::is_uppercase) {
            broken.push(Rule::Upper);
        }
        if self.require_lower && !password.chars().any(char::is_lowercase) {
            broken.push(Rule::Lower);
        }
        if self.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
            broken.push(Rule::Digit);
        }
        if let Some(set) = &self.required_specials {
            if !password.chars().any(|c| set.contains(c)) {
                broken.push(Rule::Special);
            }
        }
        let folded = fold(password);
        if self.blocklist && is_common(&folded) {
            broken.push(Rule::NotCommon);
        }
        if self.forbid_personal_data
            && personal.iter().map(|p| fold(p)).any(|p| p.chars().count() >= 3 && folded.contains(&p))
        {
            broken.push(Rule::NoPersonalData);
        }
        broken
    }
}

/// Compatibility-normalised, lower case: "Ｗachtwoord" and "wachtwoord" compare equal.
fn fold(value: &str) -> String {
    value.nfkc().collect::<String>().to_lowercase()
}

fn is_common(folded: &str) -> bool {
    COMMON.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|common| common == folded)
}

/// The forms of a birth date a person might put in a password: 31031950, 31-03-1950, 1950-03-31, 310350.
pub fn birth_date_forms(iso: &str) -> Vec<String> {
    let parts: Vec<&str> = iso.split('-').collect();
    let [year, month, day] = parts[..] else { return Vec::new() };
    vec![
        format!("{day}{month}{year}"),
        format!("{day}-{month}-{year}"),
        iso.to_string(),
        format!("{year}{month}{day}"),
        format!("{day}{month}{}", &year[year.len().saturating_sub(2)..]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Journey A's organisation: at least 8, upper case, lower case and a digit.
    fn regas() -> PasswordRules {
        PasswordRules {
            min_length: 8,
            require_upper: true,
            require_lower: true,
            require_digit: true,
            ..PasswordRules::default()
        }
    }

    /// Journey B's organisation: at least 12 and one of ! % & @ # $ ^ * ? _ ~
    fn ggz() -> PasswordRules {
        PasswordRules { min_length: 12, required_specials: Some("!%&@#$^*?_~".into()), ..PasswordRules::default() }
    }

    #[test]
    fn the_seed_organisations_rules_are_expressible() {
        assert!(regas().validate().is_ok());
        assert!(ggz().validate().is_ok());
        assert_eq!(regas().check("Zonnebloem7", &[]), vec![]);
        assert_eq!(regas().check("zonnebloem7", &[]), vec![Rule::Upper]);
        assert_eq!(regas().check("Zonneblo", &[]), vec![Rule::Digit]);
        assert_eq!(regas().check("Zon7", &[]), vec![Rule::MinLength]);
        assert_eq!(ggz().check("lange zin zonder teken", &[]), vec![Rule::Special]);
        assert_eq!(ggz().check("lange zin met ~ teken", &[]), vec![]);
    }

    #[test]
    fn defaults_follow_nist() {
        let rules = PasswordRules::default();
        assert!(rules.check("paard batterij nietje", &[]).is_empty(), "no composition rules");
        assert_eq!(rules.check("Wachtwoord123", &[]), vec![Rule::NotCommon]);
        assert_eq!(
            rules.check("ＷＡＣＨＴＷＯＯＲＤ123", &[]),
            vec![Rule::NotCommon],
            "compared after NFKC and case folding"
        );
        assert_eq!(rules.check("jan.jansen.is.de.beste", &["j.jansen", "Jansen"]), vec![Rule::NoPersonalData]);
        assert_eq!(
            rules.check(
                "geboren 31031950 ja",
                &birth_date_forms("1950-03-31").iter().map(String::as_str).collect::<Vec<_>>()
            ),
            vec![Rule::NoPersonalData]
        );
        let long: String = "ä".repeat(128);
        assert!(rules.check(&long, &[]).is_empty(), "128 characters are fine, however many bytes");
        assert_eq!(rules.check(&"a".repeat(129), &[]), vec![Rule::MaxLength]);
    }

    #[test]
    fn operators_cannot_set_unsafe_rules() {
        assert_eq!(PasswordRules { max_length: 32, ..PasswordRules::default() }.validate(), Err(RulesError::MaxLength));
        assert_eq!(PasswordRules { min_length: 6, ..PasswordRules::default() }.validate(), Err(RulesError::MinLength));
        assert_eq!(
            PasswordRules { required_specials: Some("a!".into()), ..PasswordRules::default() }.validate(),
            Err(RulesError::Specials)
        );
    }
}
