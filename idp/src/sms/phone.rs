//! Parsing and validation of user-supplied phone numbers.
//!
//! Numbers are parsed with the [`phonenumber`] crate (libphonenumber metadata) with the
//! Netherlands as default region, so national Dutch notation ("06 12345678", "020 123 4567")
//! works next to international notation ("+32 470 12 34 56", "0031 6 1234 5678").
//!
//! # Which numbers are accepted
//!
//! Only numbers that can sensibly receive a one-time code are accepted:
//!
//! | libphonenumber type        | result                   | channel          |
//! |----------------------------|--------------------------|------------------|
//! | `Mobile`                   | [`PhoneKind::Mobile`]    | SMS              |
//! | `FixedLineOrMobile`        | [`PhoneKind::Mobile`]    | SMS (e.g. US/CA, where the two cannot be told apart) |
//! | `FixedLine`                | [`PhoneKind::Landline`]  | voice call       |
//! | `Voip` (e.g. NL 085/091)   | [`PhoneKind::Landline`]  | voice call (VoIP numbers often cannot receive SMS, but do ring) |
//! | toll free, premium rate, shared cost, personal number, pager, UAN, voicemail | [`PhoneError::Unsupported`] | — |
//! | no type matches (incl. short codes, emergency numbers, unassigned ranges) | [`PhoneError::Invalid`] | — |
//!
//! Refused types are e.g. NL 0800 (toll free), 0900/0906/0909 (premium), 084x/087x (shared cost or
//! personal), 066 (pager), 088 (company numbers). They cost the caller money, reach a switchboard
//! or service instead of a person, or cannot receive calls/SMS at all.
//!
//! Validation is strict libphonenumber validation (the whole number must match the metadata
//! pattern of its type, see `classify`): a digit too many or too few is [`PhoneError::Invalid`],
//! and so are ranges reserved for fiction such as UK 07700 900xxx.
//!
//! Numbers with an extension ("020 123 4567 x12") are refused as [`PhoneError::Invalid`]:
//! a voice call cannot dial an extension.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::{country, Mode};
use regex::Regex;

/// Longest input we hand to the parser. Real numbers with formatting fit easily.
const MAX_INPUT_LEN: usize = 40;

/// A validated phone number in E.164 form (`+31612345678`) plus what kind of line it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    kind: PhoneKind,
}

/// What kind of line a [`PhoneNumber`] is, which decides how a code is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneKind {
    /// Can receive SMS (includes libphonenumber's `FixedLineOrMobile`).
    Mobile,
    /// Fixed line or VoIP: codes are delivered by a voice call.
    Landline,
}

/// Why a phone number was refused. The Display text never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not a phone number, or not a valid/existing one for its country.
    #[error("not a valid phone number")]
    Invalid,
    /// A valid number of a type that cannot receive a code (premium rate, toll free, ...).
    #[error("this type of phone number cannot receive verification codes")]
    Unsupported,
}

impl PhoneNumber {
    /// The number in E.164 form, e.g. `+31612345678`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// Whether this is a mobile (SMS) or landline (voice) number.
    pub fn kind(&self) -> PhoneKind {
        self.kind
    }

    /// A masked form safe to show back to the user or put in logs, e.g. `+31 6 •••• ••78`.
    ///
    /// Shows the country calling code, the first digit of the national number (which in most
    /// countries only tells mobile from landline) and the last two digits.
    pub fn masked(&self) -> String {
        mask_e164(&self.e164, self.country_code_len())
    }

    /// Number of digits in the country calling code.
    fn country_code_len(&self) -> usize {
        // The number is known to be valid, so parsing it again cannot fail in practice; fall back
        // to a conservative guess (1 digit) rather than panicking.
        phonenumber::parse(None, &self.e164).map(|n| n.code().value().to_string().len()).unwrap_or(1)
    }
}

impl fmt::Display for PhoneNumber {
    /// Displays the E.164 form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

/// Parse and validate a phone number typed by a user. Default region: the Netherlands.
///
/// See the [module documentation](self) for which number types are accepted.
pub fn parse(input: &str) -> Result<PhoneNumber, PhoneError> {
    let input = input.trim();
    // Cheap pre-filter: only characters people actually use when typing a number, '+' only in
    // front. This keeps letters ("hallo", vanity numbers, "tel:" URIs) and absurdly long input
    // away from the parser.
    if input.is_empty()
        || input.len() > MAX_INPUT_LEN
        || !input.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')' | '/'))
        || input.rfind('+').is_some_and(|i| i > 0)
    {
        return Err(PhoneError::Invalid);
    }

    // International notation is parsed without a default region: phonenumber 0.3 would otherwise
    // strip the *Dutch* national prefix from the foreign number ("+39 06 …" lost its 0).
    // "00" is the Dutch international prefix.
    let number = if input.starts_with('+') {
        phonenumber::parse(None, input)
    } else if let Some(rest) = input.strip_prefix("00") {
        phonenumber::parse(None, format!("+{rest}"))
    } else {
        phonenumber::parse(Some(country::Id::NL), input)
    }
    .map_err(|_| PhoneError::Invalid)?;
    if number.extension().is_some() {
        return Err(PhoneError::Invalid);
    }

    // A calling code can be shared by several regions (+1, +44, +39, +7, ...): the number is
    // accepted if it is valid in any of them.
    let national = number.national().to_string();
    let regions = DATABASE.by_code(&number.code().value()).unwrap_or_default();
    let mut result = Err(PhoneError::Invalid);
    for meta in regions {
        match classify(meta, &national) {
            Ok(kind) => {
                result = Ok(kind);
                break;
            }
            Err(PhoneError::Unsupported) => result = Err(PhoneError::Unsupported),
            Err(PhoneError::Invalid) => {}
        }
    }
    let kind = result?;

    let e164 = number.format().mode(Mode::E164).to_string();
    // Defensive: E.164 is '+' followed by at most 15 digits.
    if !e164.starts_with('+') || e164.len() > 16 || !e164[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneError::Invalid);
    }
    Ok(PhoneNumber { e164, kind })
}

/// Decide the [`PhoneKind`] of a national significant number, or refuse it.
///
/// This re-implements libphonenumber's type detection instead of using
/// `phonenumber::PhoneNumber::number_type`/`is_valid`, because phonenumber 0.3 only checks that a
/// pattern matches a *prefix* of the number: with NL mobile numbers allowed 9 or 11 digits (the
/// 11-digit form is for 097 M2M numbers), "06 1234567890" would otherwise pass as valid mobile.
/// Here every pattern must match the whole number, as in libphonenumber itself.
fn classify(meta: &Metadata, national: &str) -> Result<PhoneKind, PhoneError> {
    let d = meta.descriptors();
    if !full_match(Some(d.general()), national) {
        return Err(PhoneError::Invalid);
    }
    // Same order as libphonenumber's getNumberTypeHelper.
    let refused = [d.premium_rate(), d.toll_free(), d.shared_cost()];
    if refused.into_iter().any(|desc| full_match(desc, national)) {
        return Err(PhoneError::Unsupported);
    }
    if full_match(d.voip(), national) {
        return Ok(PhoneKind::Landline);
    }
    let refused = [d.personal_number(), d.pager(), d.uan(), d.voicemail()];
    if refused.into_iter().any(|desc| full_match(desc, national)) {
        return Err(PhoneError::Unsupported);
    }
    // Mobile also covers FixedLineOrMobile (both patterns match, e.g. NANPA numbers).
    if full_match(d.mobile(), national) {
        return Ok(PhoneKind::Mobile);
    }
    if full_match(d.fixed_line(), national) {
        return Ok(PhoneKind::Landline);
    }
    Err(PhoneError::Invalid)
}

/// Whether `desc` matches all of `national` (length and pattern).
fn full_match(desc: Option<&Descriptor>, national: &str) -> bool {
    let Some(desc) = desc else {
        return false;
    };
    let lengths = desc.possible_length();
    if !lengths.is_empty() && !u16::try_from(national.len()).is_ok_and(|len| lengths.contains(&len)) {
        return false;
    }
    let source = desc.national_number().as_str();
    let mut cache = ANCHORED.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let regex = cache.entry(source.to_owned()).or_insert_with(|| {
        // Metadata patterns are written with insignificant whitespace.
        let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        Regex::new(&format!("^(?:{compact})$")).ok()
    });
    regex.as_ref().is_some_and(|re| re.is_match(national))
}

/// Anchored versions of the metadata patterns, compiled on first use (a few per country).
static ANCHORED: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();

/// Mask an E.164 string: `+31612345678` with a 2-digit country code becomes `+31 6 •••• ••78`.
///
/// The national part after its first digit is grouped in fours from the right; only the last
/// two digits stay visible.
fn mask_e164(e164: &str, cc_len: usize) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    let cc_len = cc_len.min(digits.len());
    let (cc, national) = digits.split_at(cc_len);
    let mut out = String::from("+");
    out.extend(cc);
    let Some((first, rest)) = national.split_first() else {
        return out;
    };
    out.push(' ');
    out.push(*first);
    if rest.is_empty() {
        return out;
    }
    let visible_from = rest.len().saturating_sub(2);
    let masked: Vec<char> = rest.iter().enumerate().map(|(i, c)| if i < visible_from { '•' } else { *c }).collect();
    // Group in fours, counted from the right so the last group ends with the visible digits.
    let head = masked.len() % 4;
    let mut groups: Vec<String> = Vec::new();
    if head > 0 {
        groups.push(masked[..head].iter().collect());
    }
    groups.extend(masked[head..].chunks(4).map(|g| g.iter().collect::<String>()));
    for g in groups {
        out.push(' ');
        out.push_str(&g);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dutch_and_international_numbers() {
        let cases: &[(&str, &str, PhoneKind)] = &[
            ("06 12345678", "+31612345678", PhoneKind::Mobile),
            ("06-12345678", "+31612345678", PhoneKind::Mobile),
            ("+31612345678", "+31612345678", PhoneKind::Mobile),
            ("0031 6 1234 5678", "+31612345678", PhoneKind::Mobile),
            ("  06 12 34 56 78 ", "+31612345678", PhoneKind::Mobile),
            ("(06) 12345678", "+31612345678", PhoneKind::Mobile),
            ("020 123 4567", "+31201234567", PhoneKind::Landline),
            ("+31 20 123 4567", "+31201234567", PhoneKind::Landline),
            ("+32 470 12 34 56", "+32470123456", PhoneKind::Mobile),
            ("+44 7911 123456", "+447911123456", PhoneKind::Mobile),
            ("0044 7400 123456", "+447400123456", PhoneKind::Mobile),
            ("+49 30 1234567", "+49301234567", PhoneKind::Landline),
            ("+49 1512 3456789", "+4915123456789", PhoneKind::Mobile),
            ("+31 (0)6 1234 5678", "+31612345678", PhoneKind::Mobile),
            ("+32 (0)470 12 34 56", "+32470123456", PhoneKind::Mobile),
            // Italian landlines keep their leading 0 after the country code.
            ("+39 06 1234 5678", "+390612345678", PhoneKind::Landline),
            ("0039 06 1234 5678", "+390612345678", PhoneKind::Landline),
            ("+39 312 345 6789", "+393123456789", PhoneKind::Mobile),
            ("+44 1534 123456", "+441534123456", PhoneKind::Landline),
            // US/CA numbers are FixedLineOrMobile: treated as mobile.
            ("+1 650 253 0000", "+16502530000", PhoneKind::Mobile),
        ];
        for (input, e164, kind) in cases {
            let n = parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(n.e164(), *e164, "{input:?}");
            assert_eq!(n.kind(), *kind, "{input:?}");
            assert_eq!(n.to_string(), *e164);
        }
    }

    #[test]
    fn refuses_garbage() {
        for input in [
            "",
            "   ",
            "hallo",
            "12",
            "06123",
            "112",
            "061234567890",
            "+",
            "++31612345678",
            "06 1234567a",
            "tel:+31612345678",
            "+31 6 1234 5678 ext. 12",
            "0000000000",
            "+999 123456789",
            // Ofcom's range for TV/radio drama: not a real number, refused by libphonenumber.
            "+44 7700 900123",
            "+31 6 1234567",
            "06123456781234567890123456789012345678901234567890",
        ] {
            assert_eq!(parse(input), Err(PhoneError::Invalid), "{input:?}");
        }
    }

    #[test]
    fn refuses_numbers_that_cannot_receive_codes() {
        for input in [
            "084 123 4567", // shared cost / personal
            "087 123 4567",
            "066 1234567", // pager
            "14020",       // municipality number (UAN)
            "+1 800 555 0199",
            "0800 0123",        // toll free
            "0900 1234567",     // premium rate
            "0906 1234567",     // premium rate (adult)
            "0909 1234567",     // premium rate (entertainment)
            "088 123 4567",     // UAN / company number
            "+44 800 123 4567", // UK freephone
        ] {
            assert_eq!(parse(input), Err(PhoneError::Unsupported), "{input:?}");
        }
    }

    #[test]
    fn voip_is_voice_only() {
        let n = parse("085 123 4567").expect("NL VoIP number");
        assert_eq!(n.kind(), PhoneKind::Landline);
    }

    #[test]
    fn masks_numbers() {
        assert_eq!(parse("06 12345678").map(|n| n.masked()), Ok("+31 6 •••• ••78".to_string()));
        assert_eq!(parse("020 123 4567").map(|n| n.masked()), Ok("+31 2 •••• ••67".to_string()));
        assert_eq!(parse("+44 7911 123456").map(|n| n.masked()), Ok("+44 7 • •••• ••56".to_string()));
        assert_eq!(parse("+1 650 253 0000").map(|n| n.masked()), Ok("+1 6 • •••• ••00".to_string()));
        assert_eq!(mask_e164("+3161", 2), "+31 6 1");
        assert_eq!(mask_e164("+31", 2), "+31");
        assert_eq!(mask_e164("", 2), "+");
    }

    #[test]
    fn errors_do_not_echo_input() {
        let err = parse("06 1234 hallo").unwrap_err();
        assert!(!err.to_string().contains("hallo"));
    }
}
