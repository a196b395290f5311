//! The operator's commands for care clients and representations (`idp-admin care-client …`,
//! `idp-admin representation …`). Each change commits with its audit record; a grant or an end
//! names the care client as the person acted for, so "who could act for this client, and since
//! when" is answered from the log as well as from the history table.

use crate::admin::{account_named, invalid, AdminError, Deps};
use crate::audit::{Event, EventType};
use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::representation::{Kind, Minor, Role, Sections, Status};
use crate::domain::{BirthDate, CareClientId, RepresentationId, Subject};
use crate::store::{CareClient, Organisation, Representation, RepresentationChange, Store, StoreError};

pub const CARE_CLIENT_ADD: &str = "care-client add";
pub const REPRESENTATION_GRANT: &str = "representation grant";
pub const REPRESENTATION_REVOKE: &str = "representation revoke";
pub const REPRESENTATION_MINOR_CONSENT: &str = "representation minor-consent";

/// `idp-admin care-client add`.
#[derive(Debug, Clone)]
pub struct NewCareClient {
    pub org: String,
    pub number: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<String>,
    /// The client's own account, when they sign in themself.
    pub username: Option<String>,
}

/// `idp-admin representation grant`.
#[derive(Debug, Clone)]
pub struct NewRepresentation {
    pub org: String,
    pub number: String,
    pub username: String,
    pub kind: String,
    pub role: String,
    pub sections: String,
    pub basis: String,
    /// The last day it is in force (`JJJJ-MM-DD`); it ends at the start of the next day in the
    /// Netherlands.
    pub until: Option<String>,
}

async fn organisation(store: &dyn Store, slug: &str) -> Result<Organisation, AdminError> {
    store.organisation_by_slug(slug).await?.ok_or_else(|| invalid(format!("--org: no organisation {slug:?}")))
}

/// A care client of the organisation, by its number.
pub async fn care_client(store: &dyn Store, org: &str, number: &str) -> Result<CareClient, AdminError> {
    let org = organisation(store, org).await?;
    store
        .care_client_by_number(&org.id, number)
        .await?
        .ok_or_else(|| invalid(format!("--number: no client {number:?} at {}", org.slug)))
}

fn name(flag: &str, value: &str) -> Result<String, AdminError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 200 {
        return Err(invalid(format!("{flag}: must be 1-200 characters")));
    }
    Ok(value.to_string())
}

pub async fn add_care_client(deps: &Deps<'_>, new: NewCareClient, now: UnixTime) -> Result<CareClient, AdminError> {
    let result = async {
        let org = organisation(deps.store, &new.org).await?;
        let number = name("--number", &new.number)?;
        let birth_date = match &new.birth_date {
            Some(d) => Some(
                BirthDate::parse(d)
                    .ok_or_else(|| invalid(format!("--birth-date {d}: use JJJJ-MM-DD or DD-MM-JJJJ")))?
                    .iso(),
            ),
            None => None,
        };
        let account_id = match &new.username {
            Some(username) => Some(account_named(deps.store, username).await?.id),
            None => None,
        };
        let client = CareClient {
            id: CareClientId(uuid::Uuid::new_v4().to_string()),
            organisation_id: org.id,
            client_number: number,
            subject: Subject(crypto::random_token(16)),
            given_name: name("--given-name", &new.given_name)?,
            family_name: name("--family-name", &new.family_name)?,
            birth_date,
            account_id,
            created_at: now,
        };
        let mut tx = deps.store.begin().await?;
        match tx.create_care_client(&client).await {
            Err(StoreError::Conflict("own_record")) => {
                return Err(invalid("--username: this account has a client record at this organisation already"))
            }
            other => other?,
        }
        let event = deps.command(CARE_CLIENT_ADD, ("care_client", client.id.as_str())).acting_for(client.id.as_str());
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(client)
    }
    .await;
    deps.refused_recorded(CARE_CLIENT_ADD, result, now).await
}

/// The end of the last day a representation is in force.
fn end_of(day: &str) -> Result<UnixTime, AdminError> {
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day.trim(), iso).map_err(|_| invalid(format!("--until {day}: use JJJJ-MM-DD")))?;
    let next = date.next_day().ok_or_else(|| invalid(format!("--until {day}: too far ahead")))?;
    Ok(super::start_of(next))
}

/// Who did it, as the history stores it.
fn by(deps: &Deps<'_>) -> String {
    format!("operator:{}", deps.by.name.as_deref().unwrap_or("unknown"))
}

pub async fn grant(deps: &Deps<'_>, new: NewRepresentation, now: UnixTime) -> Result<Representation, AdminError> {
    let result = async {
        let client = care_client(deps.store, &new.org, &new.number).await?;
        let account = account_named(deps.store, &new.username).await?;
        if client.account_id.as_ref() == Some(&account.id) {
            return Err(invalid("--username: this is the client's own account; it needs no representation"));
        }
        let kind = Kind::parse(&new.kind).ok_or_else(|| {
            invalid(format!("--kind {}: use legal_representative, portal_manager or contact", new.kind))
        })?;
        let role = Role::parse(&new.role).ok_or_else(|| invalid(format!("--role {}: not a known role", new.role)))?;
        if !kind.allows(role) {
            return Err(invalid(format!("--role {role}: does not fit --kind {kind}")));
        }
        let sections = Sections::parse(&new.sections)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("--sections {}: name one or more known sections", new.sections)))?;
        if kind.follows_age_rules(role) {
            // The age rules (WGBO) need the birth date; a parent's representation ends at 16.
            let birth = client.birth_date.as_deref().and_then(BirthDate::parse).ok_or_else(|| {
                invalid("--role: a parent's or guardian's representation needs the client's birth date")
            })?;
            if Minor::on(birth.date(), super::today(now)) == Minor::From16 {
                return Err(invalid("--role: the client is 16 or older and decides for themself (WGBO)"));
            }
        }
        let ends_at = new.until.as_deref().map(end_of).transpose()?;
        if ends_at.is_some_and(|end| end <= now) {
            return Err(invalid("--until: that day has passed"));
        }
        let representation = Representation {
            id: RepresentationId(uuid::Uuid::new_v4().to_string()),
            care_client_id: client.id.clone(),
            account_id: account.id.clone(),
            kind,
            role,
            sections,
            status: Status::Active,
            basis: name("--basis", &new.basis)?,
            granted_by: by(deps),
            granted_at: now,
            ends_at,
            ended_at: None,
            minor_consent_at: None,
            version: 1,
        };
        // One that lapsed (its end date passed) without anyone ending it is ended now, so that
        // the new one can be live; its history says it expired.
        let lapsed = deps.store.live_representation(&account.id, &client.id).await?;
        let lapsed = lapsed.filter(|r| super::in_force(r, &client, now).is_none());
        let mut tx = deps.store.begin().await?;
        if let Some(old) = &lapsed {
            tx.end_representation(&old.id, Status::Expired, "lapsed", &by(deps), now).await?;
        }
        tx.create_representation(&representation).await?;
        let event = Event::new(EventType::RepresentationGranted, deps.by.clone())
            .acting_for(client.id.as_str())
            .object("representation", representation.id.as_str())
            .detail("command", REPRESENTATION_GRANT)
            .detail("representative", account.id.as_str())
            .detail("kind", kind.as_str())
            .detail("role", role.as_str())
            .detail("sections", representation.sections.to_string());
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(representation)
    }
    .await;
    deps.refused_recorded(REPRESENTATION_GRANT, result, now).await
}

/// Revokes a representation and, in the same transaction, the grants its account holds for the
/// client: the next refresh fails, and introspection and userinfo refuse its access tokens.
pub async fn revoke(deps: &Deps<'_>, id: &str, now: UnixTime) -> Result<Representation, AdminError> {
    let result = async {
        let id = RepresentationId(id.to_string());
        let mut tx = deps.store.begin().await?;
        let ended = tx
            .end_representation(&id, Status::Revoked, "revoked", &by(deps), now)
            .await?
            .ok_or_else(|| invalid("--id: no representation in force with that id"))?;
        let event = Event::new(EventType::RepresentationEnded, deps.by.clone())
            .acting_for(ended.care_client_id.as_str())
            .object("representation", ended.id.as_str())
            .detail("command", REPRESENTATION_REVOKE)
            .detail("representative", ended.account_id.as_str())
            .detail("reason", "revoked");
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(ended)
    }
    .await;
    deps.refused_recorded(REPRESENTATION_REVOKE, result, now).await
}

/// `idp-admin representation list`: everyone who can or could act for the client, with the
/// history of each.
pub async fn list(
    store: &dyn Store,
    org: &str,
    number: &str,
) -> Result<(CareClient, Vec<(Representation, Vec<RepresentationChange>)>), AdminError> {
    let client = care_client(store, org, number).await?;
    let mut out = Vec::new();
    for r in store.representations_for_client(&client.id).await? {
        let history = store.representation_history(&r.id).await?;
        out.push((r, history));
    }
    Ok((client, out))
}

/// `idp-admin representation minor-consent`: the organisation records that a client of 12 to 16
/// consents to their parent's (or guardian's) access to the dossier (WGBO). Until then the
/// parent's tokens leave the `dossier` section out.
pub async fn record_minor_consent(deps: &Deps<'_>, id: &str, now: UnixTime) -> Result<Representation, AdminError> {
    let result = async {
        let id = RepresentationId(id.to_string());
        let found = deps.store.representation_by_id(&id).await?;
        let found = found.ok_or_else(|| invalid("--id: no representation with that id"))?;
        if !found.kind.follows_age_rules(found.role) {
            return Err(invalid("--id: only a parent's or guardian's representation needs a minor's consent"));
        }
        let client = deps.store.care_client_by_id(&found.care_client_id).await?;
        let birth = client.and_then(|c| c.birth_date);
        let birth = birth.as_deref().and_then(BirthDate::parse);
        if !birth.is_some_and(|b| Minor::on(b.date(), super::today(now)) == Minor::From12To16) {
            return Err(invalid("--id: a minor's consent counts from 12 to 16 only"));
        }
        let mut tx = deps.store.begin().await?;
        let changed = tx
            .record_minor_consent(&id, &by(deps), now)
            .await?
            .ok_or_else(|| invalid("--id: not active, or the consent was recorded before"))?;
        let event = Event::new(EventType::RepresentationChanged, deps.by.clone())
            .acting_for(changed.care_client_id.as_str())
            .object("representation", changed.id.as_str())
            .detail("command", REPRESENTATION_MINOR_CONSENT)
            .detail("change", "minor_consented");
        deps.audit.commit(tx, None, &event, now).await?;
        Ok(changed)
    }
    .await;
    deps.refused_recorded(REPRESENTATION_MINOR_CONSENT, result, now).await
}
