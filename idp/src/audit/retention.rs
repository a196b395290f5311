//! Retention: removes whole calendar months of records older than `audit.retention_months`,
//! always a prefix of the chain, and records the removal in the chain itself so that
//! `verify` can tell a retention from a deletion.

use time::{Date, Month, OffsetDateTime};

use super::{Actor, Auditor, Event, EventType};
use crate::clock::UnixTime;
use crate::store::{Store, StoreError, StoreResult, Tx};

/// What a retention run removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Records older than this (the first day of a month, UTC) were removed.
    pub cutoff: UnixTime,
    pub removed: u64,
}

/// The first moment that is kept: the start of the month `months` before the current one.
pub fn cutoff(now: UnixTime, months: u32) -> UnixTime {
    let today = OffsetDateTime::from_unix_timestamp(now).map(|t| t.date()).unwrap_or(Date::MIN);
    let index = today.year() * 12 + (today.month() as i32 - 1) - months as i32;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let month = Month::try_from(month as u8).expect("1..=12");
    Date::from_calendar_date(year, month, 1).map(|d| d.midnight().assume_utc().unix_timestamp()).unwrap_or(i64::MIN)
}

/// What a retention run removes: the records before the cutoff, as an unbroken prefix of the
/// chain (a record is kept, with everything after it, from the first one at or after the cutoff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cutoff: UnixTime,
    /// The last record to remove (`seq`, hash): where the remaining chain will start.
    through: Option<(i64, String)>,
}

/// Finds what a retention keeping `months` whole months would remove (reads only).
pub async fn plan(store: &dyn Store, months: u32, now: UnixTime) -> Result<Plan, StoreError> {
    let cutoff = cutoff(now, months);
    let head = store.audit_head().await?;
    let mut through: Option<(i64, String)> = None;
    let mut after = head.base_seq;
    'scan: loop {
        let batch = store.audit_records_after(after, 1000).await?;
        for record in &batch {
            if record.time >= cutoff {
                break 'scan;
            }
            through = Some((record.seq, record.hash.clone()));
        }
        match batch.last() {
            Some(last) if batch.len() == 1000 => after = last.seq,
            _ => break,
        }
    }
    Ok(Plan { cutoff, through })
}

impl Plan {
    /// The removed records as the `audit.pruned` record names them (`1-<seq>`); `None` when
    /// nothing is old enough.
    pub fn object_id(&self) -> Option<String> {
        self.through.as_ref().map(|(seq, _)| format!("1-{seq}"))
    }

    /// Removes the records in `tx` and appends the `audit.pruned` record naming the new start.
    /// Returns how many were removed.
    pub async fn apply(&self, tx: &mut dyn Tx, auditor: &Auditor, actor: Actor, now: UnixTime) -> StoreResult<u64> {
        let Some((through_seq, through_hash)) = &self.through else {
            return Ok(0);
        };
        tx.lock_audit_head().await?;
        let removed = tx.prune_audit(*through_seq, through_hash).await?;
        let event = Event::new(EventType::AuditPruned, actor)
            .object("audit", format!("1-{through_seq}"))
            .detail("through_seq", *through_seq)
            .detail("through_hash", through_hash.as_str())
            .detail("cutoff", self.cutoff)
            .detail("removed", removed);
        auditor.append(tx, &event, now).await?;
        Ok(removed)
    }
}

/// Removes the records before the cutoff and appends an `audit.pruned` record naming the new
/// start, in one transaction (`idp-admin audit prune` does the same through `admin::prune_audit`,
/// with its command's record).
pub async fn prune(
    store: &dyn Store,
    auditor: &Auditor,
    actor: Actor,
    months: u32,
    now: UnixTime,
) -> Result<Pruned, StoreError> {
    let plan = plan(store, months, now).await?;
    if plan.through.is_none() {
        return Ok(Pruned { cutoff: plan.cutoff, removed: 0 });
    }
    let mut tx = store.begin().await?;
    let removed = plan.apply(tx.as_mut(), auditor, actor, now).await?;
    tx.commit().await?;
    Ok(Pruned { cutoff: plan.cutoff, removed })
}

#[cfg(test)]
mod tests {
    use super::cutoff;

    #[test]
    fn the_cutoff_is_the_first_of_a_month_the_given_months_back() {
        // 2026-12-02 12:00 UTC
        let now = 1_796_212_800;
        assert_eq!(cutoff(now, 60), 1_638_316_800); // 2021-12-01
        assert_eq!(cutoff(now, 1), 1_793_491_200); // 2026-11-01
        assert_eq!(cutoff(now, 12), 1_764_547_200); // 2025-12-01
    }
}
