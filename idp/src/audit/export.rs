//! Exports audit records for a period as JSON lines, or as FHIR R4 AuditEvent resources
//! (<https://hl7.org/fhir/R4/auditevent.html>) for systems that take those.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::clock::UnixTime;
use crate::store::{AuditRecord, Store, StoreError};

/// What is wrong with `--from` or `--to`, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("--from: {0:?} is not a date (2026-12-01) or an RFC 3339 time")]
    From(String),
    #[error("--to: {0:?} is not a date (2026-12-31) or an RFC 3339 time")]
    To(String),
    #[error("--from must be before --to")]
    Reversed,
}

/// A period to export: `from <= time < to`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: UnixTime,
    pub to: UnixTime,
}

impl Period {
    /// `--from` and `--to` as dates (`2026-12-01`, whole days in UTC, `--to` included) or
    /// RFC 3339 times (`2026-12-01T08:00:00Z`, `--to` excluded). An error says what to fix.
    pub fn parse(from: &str, to: &str) -> Result<Self, PeriodError> {
        let from = parse_bound(from, false).ok_or_else(|| PeriodError::From(from.to_string()))?;
        let to = parse_bound(to, true).ok_or_else(|| PeriodError::To(to.to_string()))?;
        if from >= to {
            return Err(PeriodError::Reversed);
        }
        Ok(Self { from, to })
    }
}

fn parse_bound(text: &str, end_of_day: bool) -> Option<UnixTime> {
    let text = text.trim();
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        let date = if end_of_day { date.next_day()? } else { date };
        return Some(date.midnight().assume_utc().unix_timestamp());
    }
    OffsetDateTime::parse(text, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One stored record per line, with its chain fields.
    JsonLines,
    /// One FHIR R4 AuditEvent per line.
    Fhir,
}

/// Calls `line` with each record of the period, in chain order, rendered in `format`.
/// Returns how many there were.
pub async fn export(
    store: &dyn Store,
    period: Period,
    format: Format,
    mut line: impl FnMut(String),
) -> Result<u64, StoreError> {
    let mut after = 0;
    let mut count = 0;
    loop {
        let batch = store.audit_records_between(period.from, period.to, after, 1000).await?;
        for record in &batch {
            line(match format {
                Format::JsonLines => serde_json::to_string(record).expect("records serialise"),
                Format::Fhir => fhir(record).to_string(),
            });
            count += 1;
        }
        match batch.last() {
            Some(last) if batch.len() == 1000 => after = last.seq,
            _ => return Ok(count),
        }
    }
}

/// A record as a FHIR R4 AuditEvent. The type uses DICOM's audit event codes where one fits
/// (110114 user authentication, 110110 patient record, 110100 application activity), the subtype
/// carries Poortwachter's own event type.
pub fn fhir(r: &AuditRecord) -> Value {
    let (code, display) = match r.event_type.split('.').next().unwrap_or("") {
        "signin" | "session" | "factor" | "password" => ("110114", "User Authentication"),
        "audit" => ("110101", "Audit Log Used"),
        "admin" => ("110100", "Application Activity"),
        _ => ("110110", "Patient Record"),
    };
    let recorded =
        OffsetDateTime::from_unix_timestamp(r.time).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default();
    let mut agent = json!({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                             "code": if r.actor_role == "portal" { "datacollector" } else { "humanuser" }}]},
        "role": [{"text": r.actor_role}],
        "requestor": r.actor_is_requester,
    });
    if let Some(id) = &r.actor_id {
        agent["who"] = json!({"identifier": {"system": "urn:poortwachter:account", "value": id}});
    }
    if let Some(name) = &r.actor_name {
        agent["name"] = json!(name);
    }
    if let Some(address) = &r.client_address {
        agent["network"] = json!({"address": address, "type": "2"});
    }
    let mut entity = Vec::new();
    if let Some(subject) = &r.subject_id {
        entity.push(json!({
            "what": {"identifier": {"system": "urn:poortwachter:account", "value": subject}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        }));
    }
    if let (Some(kind), Some(id)) = (&r.object_type, &r.object_id) {
        entity.push(json!({
            "what": {"identifier": {"system": format!("urn:poortwachter:{kind}"), "value": id}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "detail": [{"type": "poortwachter-detail", "valueString": r.detail}],
        }));
    }
    let mut source = json!({"observer": {"display": r.node}, "site": r.organisation_id});
    if let Some(client) = &r.client_id {
        source["type"] = json!([{"system": "urn:poortwachter:portal", "code": client}]);
    }
    json!({
        "resourceType": "AuditEvent",
        "id": r.id,
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": code, "display": display},
        "subtype": [{"system": "urn:poortwachter:audit-event-type", "code": r.event_type}],
        "action": r.action,
        "recorded": recorded,
        "outcome": if r.outcome == "success" { "0" } else { "4" },
        "agent": [agent],
        "source": source,
        "entity": entity,
        "extension": [{"url": "urn:poortwachter:audit-chain", "valueString": format!("{}:{}", r.seq, r.hash)}],
    })
}
