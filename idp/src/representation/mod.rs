//! Who may act for whom (docs/representation.md): whose portal an account may open, what a
//! representative may reach there, and what the tokens say about it. The operator's commands
//! that make and end representations are in [`admin`].

pub mod admin;
pub mod age;
pub mod own;

use serde::Serialize;

use crate::clock::UnixTime;
use crate::domain::representation::{Kind, Minor, Role, Section, Sections};
use crate::domain::{AccountId, BirthDate, OrganisationId, Party, Principal, Scopes};
use crate::store::{CareClient, Choice, Representation, Store, StoreError};

/// Whose portal `account` may open at `org` now: its own record there and the clients it has a
/// representation for that is in force. Empty: it acts for itself only, as every account did
/// before representation.
pub async fn choices(
    store: &dyn Store,
    account: &AccountId,
    org: &OrganisationId,
    now: UnixTime,
) -> Result<Vec<Choice>, StoreError> {
    let found = store.choices_at(account, org).await?;
    Ok(found
        .into_iter()
        .filter_map(|mut choice| {
            if let Some(r) = &mut choice.representation {
                r.sections = in_force(r, &choice.client, now)?;
            }
            Some(choice)
        })
        .collect())
}

/// The sections a representation lets its account reach now: `None` when it is not in force
/// (revoked, past its end, or a parent's once the child is 16). From 12 to 16 a parent (or
/// guardian) reaches the dossier only with the child's recorded consent (WGBO). Computed from the
/// clock at every use, so a birthday takes effect even for sessions and refresh tokens made
/// before it, whether or not [`end_by_age`] has run yet.
pub fn in_force(r: &Representation, client: &CareClient, now: UnixTime) -> Option<Sections> {
    if !r.is_active(now) {
        return None;
    }
    if !r.kind.follows_age_rules(r.role) {
        return Some(r.sections.clone());
    }
    // A parent's representation is granted only for a client with a birth date (`admin::grant`).
    let birth = client.birth_date.as_deref().and_then(BirthDate::parse)?;
    match Minor::on(birth.date(), today(now)) {
        Minor::Under12 => Some(r.sections.clone()),
        Minor::From12To16 if r.minor_consent_at.is_some() => Some(r.sections.clone()),
        Minor::From12To16 => Some(r.sections.without(Section::Dossier)),
        Minor::From16 => None,
    }
}

/// The time zone of the law's days: a Dutch birthday begins at midnight in the Netherlands.
pub const LAW_TIME_ZONE: &str = "Europe/Amsterdam";

/// The calendar day of `now` in the Netherlands (jiff's bundled time-zone database).
pub fn today(now: UnixTime) -> time::Date {
    let zone = jiff::tz::TimeZone::get(LAW_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC);
    let day = jiff::Timestamp::from_second(now).map(|t| t.to_zoned(zone).date());
    day.ok()
        .and_then(|d| {
            let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
            time::Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?).ok()
        })
        .unwrap_or(time::Date::MIN)
}

/// The first moment (Unix seconds) of `day` in the Netherlands.
pub fn start_of(day: time::Date) -> UnixTime {
    let zone = jiff::tz::TimeZone::get(LAW_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC);
    let civil = jiff::civil::date(day.year() as i16, u8::from(day.month()) as i8, day.day() as i8);
    civil.to_zoned(zone).map(|z| z.timestamp().as_second()).unwrap_or(i64::MAX)
}

impl Choice {
    pub fn party(&self) -> Party {
        Party::CareClient(self.client.id.clone())
    }
}

/// A principal's standing now, for the tokens: the care client reached and, when someone else
/// acts for them, the representation that lets them (its sections as in force now).
#[derive(Debug, Clone)]
pub enum Standing {
    /// The account acts for itself (no care client involved).
    Own,
    /// A care client's data: their own account, or a representative's.
    Client { client: Box<CareClient>, representation: Option<Box<Representation>> },
}

/// What `principal` may do now: `None` when it may no longer act (the representation was
/// revoked, expired, or the care client is gone). Read at every issuance, so an end date takes
/// effect at the next refresh even though nothing revoked the grant.
pub async fn standing(store: &dyn Store, principal: &Principal, now: UnixTime) -> Result<Option<Standing>, StoreError> {
    let id = match &principal.subject {
        Party::Account(id) if *id == principal.actor => return Ok(Some(Standing::Own)),
        Party::Account(_) => return Ok(None),
        Party::CareClient(id) => id,
    };
    let Some(client) = store.care_client_by_id(id).await? else { return Ok(None) };
    if client.account_id.as_ref() == Some(&principal.actor) {
        return Ok(Some(Standing::Client { client: Box::new(client), representation: None }));
    }
    let Some(mut representation) = store.live_representation(&principal.actor, id).await? else { return Ok(None) };
    let Some(sections) = in_force(&representation, &client, now) else { return Ok(None) };
    representation.sections = sections;
    Ok(Some(Standing::Client { client: Box::new(client), representation: Some(Box::new(representation)) }))
}

impl Standing {
    /// The scopes a token may carry: a representative never receives a section outside their
    /// grant, whatever was asked or consented to; other scopes (`openid`, `profile`) pass.
    pub fn narrow(&self, requested: &Scopes) -> Scopes {
        match self {
            Standing::Client { representation: Some(r), .. } => r.sections.narrow(requested),
            _ => requested.clone(),
        }
    }

    /// The `representation` claim: the kind and role of whoever acts for another.
    pub fn claim(&self) -> Option<RepresentationClaim> {
        match self {
            Standing::Client { representation: Some(r), .. } => {
                Some(RepresentationClaim { kind: r.kind, role: r.role, sections: r.sections.to_string() })
            }
            _ => None,
        }
    }

    /// The `acting_for` claim of ID tokens and `/userinfo`: the care client whose portal was
    /// opened.
    pub fn acting_for(&self) -> Option<ActingForClaim> {
        match self {
            Standing::Client { client, .. } => Some(ActingForClaim {
                sub: client.subject.0.clone(),
                organisation: client.organisation_id.0.clone(),
                client_number: client.client_number.clone(),
            }),
            Standing::Own => None,
        }
    }

    /// The access token's `sub`, when it is a care client's (else the account's own).
    pub fn subject(&self) -> Option<&str> {
        match self {
            Standing::Client { client, .. } => Some(client.subject.as_str()),
            Standing::Own => None,
        }
    }

    /// The organisation of the care client reached (a portal of another one may not).
    pub fn organisation(&self) -> Option<&OrganisationId> {
        match self {
            Standing::Client { client, .. } => Some(&client.organisation_id),
            Standing::Own => None,
        }
    }

    /// Someone acts for another person (the token then carries `act`).
    pub fn is_representative(&self) -> bool {
        matches!(self, Standing::Client { representation: Some(_), .. })
    }
}

/// The `representation` claim (docs/tokens.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RepresentationClaim {
    pub kind: Kind,
    pub role: Role,
    /// The sections the representation grants (the token's `scope` may ask fewer).
    pub sections: String,
}

/// The `acting_for` claim (docs/tokens.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ActingForClaim {
    pub sub: String,
    pub organisation: String,
    pub client_number: String,
}
