//! Authenticator apps (RFC 6238 TOTP through totp-rs): 160-bit secrets, 6 digits, 30-second
//! steps, one step of drift either way. Which step was accepted is returned so the store can
//! refuse the same code (or an older one) a second time.

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::clock::UnixTime;

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// 160 bits, as RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;

pub fn new_secret() -> Vec<u8> {
    crate::crypto::random_bytes(SECRET_BYTES)
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> TOTP {
    // The otpauth label may not hold a colon (it separates issuer and account).
    let clean = |s: &str| s.replace(':', "-");
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret.to_vec(), Some(clean(issuer)), clean(account))
}

/// The code for `now` (what an authenticator app shows); tests use it too.
pub fn code_at(secret: &[u8], now: UnixTime) -> String {
    totp(secret, "", "").generate(u64::try_from(now).unwrap_or(0))
}

/// Spaces, dashes and line breaks are dropped (codes are often pasted or typed in groups).
pub fn normalise(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

/// Checks a code against the steps around `now`; returns the step it belongs to.
pub fn verify(secret: &[u8], code: &str, now: UnixTime) -> Option<i64> {
    let code = normalise(code);
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "", "");
    let step = now.max(0) / STEP_SECS as i64;
    let mut found = None;
    // Every candidate is computed and compared, so timing does not say which step matched.
    for candidate in [step - 1, step, step + 1] {
        let expected = t.generate(u64::try_from(candidate.max(0)).unwrap_or(0) * STEP_SECS);
        if crate::crypto::constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(candidate);
        }
    }
    found
}

/// What the enrolment page shows: the QR code (inline SVG), the otpauth URL in it, and the
/// secret in base32, grouped by four, for "can't scan".
pub struct Enrolment {
    pub qr_svg: String,
    pub url: String,
    pub secret_text: String,
}

pub fn enrolment(secret: &[u8], issuer: &str, account: &str) -> Enrolment {
    let t = totp(secret, issuer, account);
    let url = t.get_url();
    let qr_svg = QrCode::new(url.as_bytes())
        .map(|code| code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build())
        .unwrap_or_default();
    let base32 = Secret::Raw(secret.to_vec()).to_encoded().to_string();
    let secret_text =
        base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    Enrolment { qr_svg, url, secret_text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_step_of_drift_and_reports_the_step() {
        let secret = new_secret();
        let now = 1_800_000_015;
        let step = now / 30;
        assert_eq!(verify(&secret, &code_at(&secret, now), now), Some(step));
        assert_eq!(verify(&secret, &code_at(&secret, now - 30), now), Some(step - 1));
        assert_eq!(verify(&secret, &code_at(&secret, now + 30), now), Some(step + 1));
        assert_eq!(verify(&secret, &code_at(&secret, now - 60), now), None);
    }

    #[test]
    fn codes_are_normalised_and_checked_for_shape() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now);
        let spaced = format!(" {} {}\n", &code[..3], &code[3..]);
        assert!(verify(&secret, &spaced, now).is_some());
        assert!(verify(&secret, "12345", now).is_none());
        assert!(verify(&secret, "abcdef", now).is_none());
    }

    #[test]
    fn enrolment_shows_qr_and_grouped_secret() {
        let secret = new_secret();
        let e = enrolment(&secret, "Poortwachter", "j.jansen");
        assert!(e.qr_svg.contains("<svg"));
        assert!(e.url.starts_with("otpauth://totp/Poortwachter:j.jansen?"));
        assert_eq!(e.secret_text.replace(' ', "").len(), 32);
    }
}
