//! The rows the stores read and write. See `docs/architecture.md` for the data model.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::domain::representation::{Kind, Role, Sections, Status};
use crate::domain::{
    AccountId, CareClientId, ClientId, GrantId, OrganisationId, Party, Principal, RedirectUri, RepresentationId,
    Scopes, Secret, SessionId, Subject,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrganisationId,
    /// Short, stable name used by operators (`idp-admin client create --org <slug>`).
    pub slug: String,
    pub name: String,
    pub created_at: UnixTime,
}

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Holds a secret (a portal's back end, a machine client).
    Confidential,
    /// Cannot keep a secret (a single-page or native app); must use PKCE.
    Public,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "confidential" => Some(ClientKind::Confidential),
            "public" => Some(ClientKind::Public),
            _ => None,
        }
    }
}

/// Whether a client must send PKCE (RFC 7636) with every authorization request.
/// RFC 9700 §2.1.1 recommends it for every client and OAuth 2.1 requires it: new clients get
/// `Required`; `Optional` is for a confidential portal that cannot send it yet (and for clients
/// registered before PKCE could be required). A public client always requires it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkcePolicy {
    #[default]
    Required,
    Optional,
}

impl PkcePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PkcePolicy::Required => "required",
            PkcePolicy::Optional => "optional",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "required" => Some(PkcePolicy::Required),
            "optional" => Some(PkcePolicy::Optional),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

/// JWS algorithms the IdP signs with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    ES256,
    RS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::ES256 => "ES256",
            SigningAlg::RS256 => "RS256",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "ES256" => Some(SigningAlg::ES256),
            "RS256" => Some(SigningAlg::RS256),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub organisation_id: OrganisationId,
    pub name: String,
    pub kind: ClientKind,
    /// SHA-256 of the 256-bit random secret (base64url); `None` for public clients.
    pub secret_digest: Option<Secret<String>>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// The scopes this client may ask for.
    pub scopes: Scopes,
    pub grant_types: Vec<GrantType>,
    pub id_token_alg: SigningAlg,
    /// Whether authorization requests must carry a PKCE challenge; see [`Client::requires_pkce`].
    pub pkce: PkcePolicy,
    /// OpenID Connect Back-Channel Logout 1.0: where the portal hears that a session ended.
    pub backchannel_logout_uri: Option<RedirectUri>,
    pub created_at: UnixTime,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// RFC 9700 §2.1.1: must this client send `code_challenge`? Always for a public client,
    /// whatever is stored.
    pub fn requires_pkce(&self) -> bool {
        self.kind == ClientKind::Public || self.pkce == PkcePolicy::Required
    }
}

/// A person who signs in. Distinct from the care client whose dossier a portal shows:
/// one account may later represent several care clients at several organisations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub subject: Subject,
    pub username: String,
    pub username_normalised: String,
    /// The confusable skeleton (`domain::Username::skeleton`): unique, so look-alikes are refused.
    pub username_skeleton: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: String,
    pub family_name: String,
    /// ISO 8601 date (`1950-03-31`).
    pub birth_date: Option<String>,
    /// Argon2id PHC string; `None` until the account is activated.
    pub password_hash: Option<Secret<String>>,
    pub created_at: UnixTime,
    pub disabled: bool,
    /// The password is temporary: the next sign-in first asks for a new one.
    pub must_change_password: bool,
    /// The password was last set through a mailed reset link (see `auth::levels`).
    pub password_via_mail: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// The private key as a JWK (JSON).
    pub private_jwk: Secret<String>,
    /// The public key as a JWK (JSON), as published in JWKS.
    pub public_jwk: String,
    pub created_at: UnixTime,
    /// The key signs from this moment; it is published in JWKS from `created_at`.
    pub signs_from: UnixTime,
    /// When set, the key is dropped from JWKS at this moment.
    pub publish_until: Option<UnixTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public identifier, the `sid` claim.
    pub id: SessionId,
    /// SHA-256 of the cookie value.
    pub token_digest: String,
    pub account_id: AccountId,
    /// Whom the account acts for in this session; `None`: itself (see [`crate::domain::Principal`]).
    pub acting_for: Option<Party>,
    pub auth_time: UnixTime,
    /// RFC 8176 authentication method references.
    pub amr: Vec<String>,
    pub acr: String,
    /// The factors proved for this session, with their channels and times.
    pub factors: Vec<crate::auth::levels::FactorUse>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub ended_at: Option<UnixTime>,
    /// False only when the account is known to have no care-client record and no live
    /// representation: read with the session (not stored), so a single sign-on of someone who
    /// represents nobody needs no further read for "Namens wie wilt u inloggen?". A session just
    /// made has `true` (not known).
    pub might_represent: bool,
}

impl Session {
    pub fn principal(&self) -> Principal {
        Principal::from_stored(&self.account_id, self.acting_for.as_ref())
    }

    pub fn is_active(&self, now: UnixTime) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub client_id: ClientId,
    /// `None` for client-credentials grants.
    pub account_id: Option<AccountId>,
    /// Whom the account acts for; `None`: itself. Its refresh tokens carry the same principal.
    pub acting_for: Option<Party>,
    pub session_id: Option<SessionId>,
    pub scope: Scopes,
    pub auth_time: Option<UnixTime>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    /// The refresh-token family dies here, however often it rotates.
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

impl Grant {
    /// Who acts for whom with this grant's tokens; `None` for a machine client's grant.
    pub fn principal(&self) -> Option<Principal> {
        self.account_id.as_ref().map(|a| Principal::from_stored(a, self.acting_for.as_ref()))
    }

    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub digest: String,
    pub grant_id: GrantId,
    /// May be narrower than the grant's scope (RFC 6749 §6).
    pub scope: Scopes,
    pub created_at: UnixTime,
    pub used_at: Option<UnixTime>,
}

/// A rendered mail waiting in the outbox (or already sent, with its bodies blanked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: String,
    pub organisation_id: Option<OrganisationId>,
    pub recipient: String,
    pub from_name: String,
    pub from_address: String,
    pub subject: String,
    pub body_text: Secret<String>,
    pub body_html: Secret<String>,
    pub created_at: UnixTime,
    pub attempts: u32,
    pub next_attempt_at: UnixTime,
    pub sent_at: Option<UnixTime>,
}

/// How an organisation's clients activate their account (PRODUCT.md journeys A and B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivationMethod {
    /// Journey A: a mail with a link and a validation code; the client picks username and password.
    #[serde(rename = "invite-code")]
    InviteCode,
    /// Journey B: an activation link, the birth date, then a mailed temporary password.
    #[serde(rename = "link-birthdate-temporary-password")]
    LinkBirthdateTemporaryPassword,
}

impl ActivationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationMethod::InviteCode => "invite-code",
            ActivationMethod::LinkBirthdateTemporaryPassword => "link-birthdate-temporary-password",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "invite-code" => Some(ActivationMethod::InviteCode),
            "link-birthdate-temporary-password" => Some(ActivationMethod::LinkBirthdateTemporaryPassword),
            _ => None,
        }
    }
}

/// An organisation's choices; see `docs/organisations.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationPolicy {
    pub organisation_id: OrganisationId,
    pub activation_method: ActivationMethod,
    pub password_rules: crate::auth::password_rules::PasswordRules,
    pub secret_question: bool,
    pub mail_from_name: Option<String>,
    pub mail_from_address: Option<String>,
    /// The portal address shown in mails and after activation.
    pub portal_url: Option<String>,
    pub invitation_ttl_secs: i64,
    /// The level every sign-in to this organisation's portals must reach.
    pub min_level: crate::auth::levels::Level,
    /// A mailed login token is accepted as the second factor (journey B).
    pub mailed_token: bool,
    /// How long "trust this computer" lasts; 0 turns the offer off.
    pub trusted_device_days: i64,
    pub updated_at: UnixTime,
}

impl OrganisationPolicy {
    /// The policy of an organisation that has not chosen anything yet.
    pub fn default_for(organisation_id: OrganisationId) -> Self {
        Self {
            organisation_id,
            activation_method: ActivationMethod::InviteCode,
            password_rules: Default::default(),
            secret_question: false,
            mail_from_name: None,
            mail_from_address: None,
            portal_url: None,
            invitation_ttl_secs: 14 * 86_400,
            min_level: crate::auth::levels::Level::Password,
            mailed_token: false,
            trusted_device_days: 7,
            updated_at: 0,
        }
    }
}

/// An invitation to activate an account. The code or link token is stored only as a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub organisation_id: OrganisationId,
    pub method: ActivationMethod,
    pub email: String,
    pub email_normalised: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<String>,
    pub client_number: Option<String>,
    pub secret_digest: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub voided_at: Option<UnixTime>,
    pub failures: u32,
    pub account_id: Option<AccountId>,
}

/// After this many wrong answers an invitation locks; the caregiver must send a new one.
pub const MAX_INVITATION_FAILURES: u32 = 5;

impl Invitation {
    /// Still usable: not used, voided, expired or locked.
    pub fn is_open(&self, now: UnixTime) -> bool {
        self.used_at.is_none()
            && self.voided_at.is_none()
            && now < self.expires_at
            && self.failures < MAX_INVITATION_FAILURES
    }
}

impl OutboxMail {
    /// A new mail, due now: `rendered` is (subject, text, HTML) as `MailTemplates::render` returns it.
    pub fn queued(
        organisation_id: Option<OrganisationId>,
        recipient: String,
        (from_name, from_address): (String, String),
        (subject, text, html): (String, String, String),
        now: UnixTime,
    ) -> Self {
        Self {
            id: crate::crypto::random_token(12),
            organisation_id,
            recipient,
            from_name,
            from_address,
            subject,
            body_text: Secret::new(text),
            body_html: Secret::new(html),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            sent_at: None,
        }
    }
}

/// A "forgot password" link; the token itself is only in the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub digest: String,
    pub account_id: AccountId,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
}

/// The kinds of enrolled second factor (the mailed token needs no enrolment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorKind {
    Totp,
    Sms,
    Voice,
    Passkey,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Sms => "sms",
            FactorKind::Voice => "voice",
            FactorKind::Passkey => "passkey",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [FactorKind::Totp, FactorKind::Sms, FactorKind::Voice, FactorKind::Passkey]
            .into_iter()
            .find(|k| k.as_str() == value)
    }
}

/// An enrolled (or, until `confirmed_at`, pending) second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    pub id: String,
    pub account_id: AccountId,
    pub kind: FactorKind,
    pub label: String,
    /// TOTP: the secret, encrypted; passkey: the credential as JSON.
    pub secret: Option<Secret<String>>,
    /// SMS or voice: the number in E.164 form.
    pub phone: Option<String>,
    /// Passkey: the credential id (base64url).
    pub credential_id: Option<String>,
    /// TOTP: the highest time step accepted so far.
    pub last_used_step: Option<i64>,
    pub created_at: UnixTime,
    pub confirmed_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
}

/// A browser trusted for a while ("Vertrouw deze computer"); the cookie is stored as a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    pub id: String,
    pub account_id: AccountId,
    pub token_digest: String,
    /// What the person sees in the list (browser and system, from the User-Agent).
    pub label: String,
    /// The second factor proved when the browser was trusted; it stands in for it later.
    pub factor: crate::auth::levels::FactorUse,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

impl TrustedDevice {
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// The end of the audit chain (`seq`, `hash`) and its start after retention (`base_*`: the last
/// removed record; 0 and empty while nothing was removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
    pub base_seq: i64,
    pub base_hash: String,
}

/// One audit record as stored (docs/audit.md lists the fields and event types).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub id: String,
    pub time: UnixTime,
    pub event_type: String,
    /// C, R, U, D or E.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub actor_role: String,
    pub actor_is_requester: bool,
    pub subject_id: Option<String>,
    pub client_address: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub node: String,
    pub organisation_id: Option<String>,
    pub client_id: Option<String>,
    /// A JSON object; never secrets.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A care client (cliënt) at one organisation: the person whose dossier a portal shows. Not an
/// account: a client may have none (a young child), or be represented by others' accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareClient {
    pub id: CareClientId,
    pub organisation_id: OrganisationId,
    /// The organisation's own number for the client (unique within it).
    pub client_number: String,
    /// The `sub` of access tokens that reach this client's data, whoever signs in for them.
    pub subject: Subject,
    pub given_name: String,
    pub family_name: String,
    /// ISO 8601 date (`2014-05-01`); the age rules need it.
    pub birth_date: Option<String>,
    /// The client's own account, when they sign in themself.
    pub account_id: Option<AccountId>,
    pub created_at: UnixTime,
}

impl CareClient {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name).trim().to_string()
    }
}

/// An account that may act for a care client (docs/representation.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    pub id: RepresentationId,
    pub care_client_id: CareClientId,
    pub account_id: AccountId,
    pub kind: Kind,
    pub role: Role,
    pub sections: Sections,
    pub status: Status,
    /// On what it rests, in the granter's words (a court order's number, "brief 2026-001").
    pub basis: String,
    /// Who granted it: `operator:<name>` or `account:<id>`.
    pub granted_by: String,
    pub granted_at: UnixTime,
    /// It ends by itself at this time.
    pub ends_at: Option<UnixTime>,
    pub ended_at: Option<UnixTime>,
    /// A minor of 12 to 16 consented to this parent's (or guardian's) access to the dossier.
    pub minor_consent_at: Option<UnixTime>,
    /// Counts the changes; each is kept in `representation_history`.
    pub version: i64,
}

impl Representation {
    /// Whether its status and end date let its account act for the client now (the age rules
    /// may still end or narrow it: `representation::in_force`).
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.status == Status::Active && self.ends_at.is_none_or(|end| now < end)
    }
}

/// One change of a representation, as its history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepresentationChange {
    pub representation_id: RepresentationId,
    pub version: i64,
    pub changed_at: UnixTime,
    pub changed_by: String,
    /// `granted`, `revoked`, `ended` (by the representative), `expired`.
    pub change: String,
    pub status: Status,
    pub sections: Sections,
    pub ends_at: Option<UnixTime>,
}

/// One care client whose portal an account may open (`RepresentationStore::choices_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub client: CareClient,
    /// It is the account's own record: the person opens their own dossier.
    pub own: bool,
    /// The account's active representation of the client (none for its own record).
    pub representation: Option<Representation>,
}

/// A back-channel logout waiting for its portal (docs/architecture.md, "Back-channel logout").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedLogout {
    /// `<session>:<client>`: one per session and portal.
    pub id: String,
    pub client_id: ClientId,
    pub session_id: SessionId,
    /// The `sub` of the ID tokens the portal got in that session (the account's).
    pub subject: String,
    pub uri: String,
    pub created_at: UnixTime,
    pub attempts: u32,
    /// `None` once given up.
    pub next_attempt_at: Option<UnixTime>,
    pub sent_at: Option<UnixTime>,
}
