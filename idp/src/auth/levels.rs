//! Assurance levels: which factors a sign-in used, over which channels, and what level that
//! reaches. See `docs/factors.md` (the model) and `docs/tokens.md` (the `acr` and `amr` values).
//!
//! Two factors count as two only when they travel over different channels: a mailed login
//! token proves control of the mailbox, and so does a password that was just reset through a
//! mailed link. Their sum is one channel, and so one factor.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// How strongly someone signed in, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// One channel: a password (or a password and a token over the same channel).
    Password,
    /// Two channels, e.g. a password and a code from an authenticator app, SMS or mail.
    TwoFactor,
    /// A passkey: the browser proves a key bound to this site, which phishing cannot relay.
    PhishingResistant,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Password, Level::TwoFactor, Level::PhishingResistant];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Password => "password",
            Level::TwoFactor => "two-factor",
            Level::PhishingResistant => "phishing-resistant",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == value)
    }

    /// The `acr` value (OIDC Core §2) for this level.
    pub fn acr(self) -> &'static str {
        match self {
            Level::Password => "urn:poortwachter:acr:password",
            Level::TwoFactor => "urn:poortwachter:acr:mfa",
            Level::PhishingResistant => "urn:poortwachter:acr:phishing-resistant",
        }
    }

    pub fn from_acr(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.acr() == value)
    }
}

/// What proving a factor shows control of. Factors over the same channel count once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Something only the person knows (a password they chose).
    Knowledge,
    /// The mailbox (mailed token; a password set through a mailed reset link).
    Email,
    /// An authenticator app holding a TOTP secret.
    App,
    /// A phone number receiving SMS or voice calls.
    Phone,
    /// A passkey (WebAuthn credential).
    Passkey,
    /// The printed recovery codes.
    Paper,
}

/// One factor proved during a sign-in: its RFC 8176 method, its channel, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorUse {
    pub method: Method,
    pub channel: Channel,
    pub at: UnixTime,
}

/// The factors, named by the `amr` value they put in tokens (RFC 8176 §2 where one fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `pwd`: a password.
    Pwd,
    /// `otp`: a code from an authenticator app.
    Otp,
    /// `email`: a login token sent by mail (not in RFC 8176's registry; see docs/tokens.md).
    Email,
    /// `sms`: a code sent by SMS.
    Sms,
    /// `tel`: a code read out by a voice call.
    Tel,
    /// `hwk`: a passkey (proof of possession of a key, with user verification).
    Hwk,
    /// `rec`: a recovery code (not in RFC 8176's registry; see docs/tokens.md).
    Rec,
}

impl Method {
    pub fn amr(self) -> &'static str {
        match self {
            Method::Pwd => "pwd",
            Method::Otp => "otp",
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Tel => "tel",
            Method::Hwk => "hwk",
            Method::Rec => "rec",
        }
    }
}

impl FactorUse {
    pub fn new(method: Method, channel: Channel, at: UnixTime) -> Self {
        Self { method, channel, at }
    }

    /// A password: a knowledge factor, unless it was last set through a mailed link.
    pub fn password(via_mail: bool, at: UnixTime) -> Self {
        Self::new(Method::Pwd, if via_mail { Channel::Email } else { Channel::Knowledge }, at)
    }
}

/// The level a set of factor uses reaches.
pub fn level(factors: &[FactorUse]) -> Level {
    if factors.iter().any(|f| f.channel == Channel::Passkey) {
        return Level::PhishingResistant;
    }
    let mut channels: Vec<Channel> = factors.iter().map(|f| f.channel).collect();
    channels.sort_by_key(|c| *c as u8);
    channels.dedup();
    if channels.len() >= 2 {
        Level::TwoFactor
    } else {
        Level::Password
    }
}

/// When the session last proved a factor beyond the first (the age a step-up looks at);
/// `None` when it never did.
pub fn second_factor_at(factors: &[FactorUse]) -> Option<UnixTime> {
    factors.iter().filter(|f| f.method != Method::Pwd).map(|f| f.at).max()
}

/// The `amr` claim: each method once, in the order they were used; `mfa` when the level is
/// two factors or more (RFC 8176 §2).
pub fn amr(factors: &[FactorUse]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in factors {
        if !out.iter().any(|m| m == f.method.amr()) {
            out.push(f.method.amr().to_string());
        }
    }
    if level(factors) >= Level::TwoFactor {
        out.push("mfa".into());
    }
    out
}

/// What a request demands: a minimum level, and optionally that the second factor was proved
/// at most `max_age` seconds ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requirement {
    pub level: Option<Level>,
    pub max_age: Option<i64>,
    /// Mailed tokens do not count (an organisation involved does not accept them).
    pub ignore_mail: bool,
}

impl Requirement {
    /// Both requirements at once: the higher level, the shorter age.
    pub fn and(self, other: Requirement) -> Requirement {
        Requirement {
            level: self.level.max(other.level),
            max_age: match (self.max_age, other.max_age) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            ignore_mail: self.ignore_mail || other.ignore_mail,
        }
    }

    pub fn level(&self) -> Level {
        self.level.unwrap_or(Level::Password)
    }

    /// True when the factors meet the requirement at `now`.
    /// The factor uses that count under this requirement.
    pub fn counted(&self, factors: &[FactorUse]) -> Vec<FactorUse> {
        factors.iter().filter(|f| !(self.ignore_mail && f.method == Method::Email)).cloned().collect()
    }

    pub fn is_met(&self, factors: &[FactorUse], now: UnixTime) -> bool {
        let counted = self.counted(factors);
        let factors = &counted[..];
        if level(factors) < self.level() {
            return false;
        }
        match self.max_age {
            None => true,
            // An age is about the second factor: with a level above password, it must be recent.
            Some(max) => self.level() == Level::Password || second_factor_at(factors).is_some_and(|t| now - t <= max),
        }
    }
}

/// The lowest level among the `acr_values` we know (OIDC Core §3.1.2.1: voluntary, in order of
/// preference; we read them as "at least this"). Unknown values are ignored.
pub fn from_acr_values(acr_values: Option<&str>) -> Option<Level> {
    acr_values?.split(' ').filter_map(Level::from_acr).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(method: Method, channel: Channel, at: i64) -> FactorUse {
        FactorUse::new(method, channel, at)
    }

    #[test]
    fn levels_count_channels_not_factors() {
        let pwd = FactorUse::password(false, 0);
        assert_eq!(level(std::slice::from_ref(&pwd)), Level::Password);
        assert_eq!(level(&[pwd.clone(), f(Method::Otp, Channel::App, 1)]), Level::TwoFactor);
        assert_eq!(level(&[pwd.clone(), f(Method::Email, Channel::Email, 1)]), Level::TwoFactor);
        // A password reset by mail plus a mailed token: the mailbox twice, one factor.
        let mailed_pwd = FactorUse::password(true, 0);
        assert_eq!(level(&[mailed_pwd.clone(), f(Method::Email, Channel::Email, 1)]), Level::Password);
        assert_eq!(level(&[mailed_pwd, f(Method::Sms, Channel::Phone, 1)]), Level::TwoFactor);
        assert_eq!(level(&[pwd, f(Method::Hwk, Channel::Passkey, 1)]), Level::PhishingResistant);
    }

    #[test]
    fn amr_lists_methods_once_and_mfa() {
        let uses = [FactorUse::password(false, 0), f(Method::Otp, Channel::App, 1), f(Method::Otp, Channel::App, 2)];
        assert_eq!(amr(&uses), vec!["pwd", "otp", "mfa"]);
        assert_eq!(amr(&uses[..1]), vec!["pwd"]);
    }

    #[test]
    fn requirements_check_level_and_age() {
        let uses = [FactorUse::password(false, 0), f(Method::Sms, Channel::Phone, 100)];
        let dossier = Requirement { level: Some(Level::TwoFactor), max_age: Some(900), ignore_mail: false };
        assert!(dossier.is_met(&uses, 1000));
        assert!(!dossier.is_met(&uses, 1001));
        assert!(!dossier.is_met(&uses[..1], 0));
        let strong = Requirement { level: Some(Level::PhishingResistant), ..Requirement::default() };
        assert!(!strong.is_met(&uses, 0));
        let both = dossier.and(Requirement { level: Some(Level::Password), max_age: Some(60), ignore_mail: true });
        assert_eq!(both, Requirement { level: Some(Level::TwoFactor), max_age: Some(60), ignore_mail: true });
        // Where mailed tokens are not accepted, password + mailed token is one factor.
        let mailed = [FactorUse::password(false, 0), f(Method::Email, Channel::Email, 1)];
        assert!(dossier.is_met(&mailed, 2) && !both.is_met(&mailed, 2));
    }

    #[test]
    fn acr_values_read_as_minimum() {
        assert_eq!(from_acr_values(Some("urn:poortwachter:acr:mfa")), Some(Level::TwoFactor));
        assert_eq!(
            from_acr_values(Some("urn:poortwachter:acr:phishing-resistant urn:poortwachter:acr:mfa")),
            Some(Level::TwoFactor)
        );
        assert_eq!(from_acr_values(Some("urn:other loa-3")), None);
        assert_eq!(from_acr_values(None), None);
    }
}
