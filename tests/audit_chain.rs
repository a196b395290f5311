//! The audit chain on both databases: appends link and verify, concurrent appends from many
//! connections form one chain, a rolled-back change leaves no record, and every kind of
//! tampering (a changed field, a removed, inserted or swapped row, removed newest records,
//! removed oldest records) is named by `verify` at the first bad record. Retention and export.

use std::sync::Arc;

use futures::future::join_all;
use idp::audit::export::{self, Format, Period};
use idp::audit::verify::{verify, BadRecord, Checkpoint, Problem};
use idp::audit::{retention, Actor, Auditor, Event, EventType};
use idp::auth::factor_key::FactorKey;
use idp::store::{self, Store};

/// 2026-12-02 12:00 UTC.
const NOW: i64 = 1_796_212_800;

struct Db {
    store: Arc<dyn Store>,
    raw: Raw,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<crate::helpers::PgDatabase>,
}

/// Direct SQL, as someone with database access would tamper.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Raw::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

async fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = store::connect(&url, 8).await.expect("sqlite store");
    let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&url).await.expect("raw sqlite"));
    Db { store, raw, url, _dir: Some(dir), _pg: None }
}

async fn postgres_db() -> Db {
    let db = crate::helpers::fresh_postgres().await;
    let store = store::connect(&db.url, 8).await.expect("postgres store");
    let raw = Raw::Postgres(sqlx::PgPool::connect(&db.url).await.expect("raw postgres"));
    Db { store, raw, url: db.url.clone(), _dir: None, _pg: Some(db) }
}

macro_rules! on_both {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::$check(super::sqlite_db().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::$check(super::postgres_db().await).await;
                }
            )*
        }
    };
}

on_both!(
    appends_link_and_verify,
    two_processes_append_to_one_chain,
    concurrent_appends_form_one_chain,
    a_rolled_back_change_leaves_no_record,
    a_changed_field_is_named,
    a_removed_row_is_named,
    removed_newest_rows_are_named,
    removed_newest_rows_with_a_rewound_end_need_a_checkpoint,
    an_inserted_row_is_named,
    swapped_rows_are_named,
    retention_removes_whole_old_months_and_stays_verifiable,
    removed_oldest_rows_without_retention_are_named,
    export_takes_a_period,
);

fn auditor() -> Auditor {
    Auditor::new(FactorKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").expect("key"), "node-1".into())
}

fn event(n: usize) -> Event {
    Event::new(EventType::SigninSucceeded, Actor::unknown())
        .object("account", format!("acc-{n}"))
        .from_address("192.0.2.7")
        .detail("n", n)
}

async fn append(db: &Db, count: usize, time: i64) {
    let auditor = auditor();
    for n in 0..count {
        auditor.record(db.store.as_ref(), &event(n), time).await.expect("append");
    }
}

/// The server and idp-admin: two stores on one database. Each remembers the chain's end it last
/// saw (SQLite), so each append must still link to the real end, also after a roll-back.
async fn two_processes_append_to_one_chain(db: Db) {
    let admin = store::connect(&db.url, 2).await.expect("a second store");
    append(&db, 2, NOW).await;
    auditor().record(admin.as_ref(), &event(10), NOW).await.expect("the other process appends");
    append(&db, 2, NOW).await;
    {
        let mut tx = db.store.begin().await.unwrap();
        auditor().append(tx.as_mut(), &event(20), NOW).await.unwrap();
        // Dropped: rolled back.
    }
    auditor().record(admin.as_ref(), &event(11), NOW).await.expect("the other process appends");
    append(&db, 1, NOW).await;
    assert_eq!(check(&db).await, Ok(7));
    let records = db.store.audit_records_after(0, 100).await.unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 7]);
    assert!(records.iter().all(|r| !r.detail.contains("20")), "the rolled-back record is nowhere");
    assert_eq!(db.store.audit_head().await.unwrap().seq, 7, "the end moved with every record");
}

async fn check(db: &Db) -> Result<i64, BadRecord> {
    verify(db.store.as_ref(), &auditor(), None).await.expect("verify runs").map(|v| v.records as i64)
}

fn bad(seq: i64, problem: Problem) -> Result<i64, BadRecord> {
    Err(BadRecord { seq, problem })
}

async fn appends_link_and_verify(db: Db) {
    append(&db, 5, NOW).await;
    assert_eq!(check(&db).await, Ok(5));
    let records = db.store.audit_records_after(0, 100).await.unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(records[0].prev_hash, "");
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let first = &records[0];
    assert_eq!(
        (first.event_type.as_str(), first.action.as_str(), first.outcome.as_str()),
        ("signin.succeeded", "E", "success")
    );
    assert_eq!(first.node, "node-1");
    assert_eq!(first.client_address.as_deref(), Some("192.0.2.7"));
    // Another key cannot vouch for this chain.
    let stranger = Auditor::new(FactorKey::generate(), "node-1".into());
    let other = verify(db.store.as_ref(), &stranger, None).await.unwrap();
    assert_eq!(other.map(|v| v.records), Err(BadRecord { seq: 1, problem: Problem::Altered }));
}

async fn concurrent_appends_form_one_chain(db: Db) {
    let store = db.store.clone();
    let tasks = (0..24).map(|n| {
        let store = store.clone();
        tokio::spawn(async move { auditor().record(store.as_ref(), &event(n), NOW).await.expect("append") })
    });
    let mut seqs: Vec<i64> = join_all(tasks).await.into_iter().map(|r| r.unwrap().seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    assert_eq!(check(&db).await, Ok(24));
}

async fn a_rolled_back_change_leaves_no_record(db: Db) {
    append(&db, 2, NOW).await;
    {
        let mut tx = db.store.begin().await.unwrap();
        auditor().append(tx.as_mut(), &event(9), NOW).await.unwrap();
        // Dropped without commit: the change failed.
    }
    assert_eq!(db.store.audit_head().await.unwrap().seq, 2);
    append(&db, 1, NOW).await;
    assert_eq!(check(&db).await, Ok(3));
}

async fn a_changed_field_is_named(db: Db) {
    append(&db, 5, NOW).await;
    db.raw.exec("UPDATE audit_events SET client_address = '198.51.100.1' WHERE seq = 3").await;
    assert_eq!(check(&db).await, bad(3, Problem::Altered));
}

async fn a_removed_row_is_named(db: Db) {
    append(&db, 5, NOW).await;
    db.raw.exec("DELETE FROM audit_events WHERE seq = 3").await;
    assert_eq!(check(&db).await, bad(3, Problem::Missing));
}

async fn removed_newest_rows_are_named(db: Db) {
    append(&db, 5, NOW).await;
    db.raw.exec("DELETE FROM audit_events WHERE seq >= 4").await;
    assert_eq!(check(&db).await, bad(4, Problem::Truncated));
}

async fn removed_newest_rows_with_a_rewound_end_need_a_checkpoint(db: Db) {
    append(&db, 5, NOW).await;
    let head = db.store.audit_head().await.unwrap();
    let kept = Checkpoint { seq: head.seq, hash: head.hash.clone() };
    let third = db.store.audit_records_after(2, 1).await.unwrap().remove(0);
    db.raw.exec("DELETE FROM audit_events WHERE seq >= 4").await;
    db.raw.exec(&format!("UPDATE audit_head SET seq = 3, hash = '{}' WHERE id = 1", third.hash)).await;
    // The table alone now looks whole; the checkpoint kept elsewhere does not.
    assert_eq!(check(&db).await, Ok(3));
    let result = verify(db.store.as_ref(), &auditor(), Some(&kept)).await.unwrap();
    assert_eq!(result.map(|v| v.records), Err(BadRecord { seq: 5, problem: Problem::CheckpointMismatch }));
    let old = Checkpoint { seq: 3, hash: third.hash };
    assert!(verify(db.store.as_ref(), &auditor(), Some(&old)).await.unwrap().is_ok());
}

async fn an_inserted_row_is_named(db: Db) {
    append(&db, 3, NOW).await;
    let last = db.store.audit_records_after(2, 1).await.unwrap().remove(0);
    db.raw
        .exec(&format!(
            "INSERT INTO audit_events (seq, id, time, event_type, action, outcome, actor_role, actor_is_requester, \
             node, detail, prev_hash, hash) VALUES (4, 'forged', {NOW}, 'signin.succeeded', 'E', 'success', 'client', \
             TRUE, 'node-1', '{{}}', '{}', 'made-up')",
            last.hash
        ))
        .await;
    assert_eq!(check(&db).await, bad(4, Problem::Altered));
}

async fn swapped_rows_are_named(db: Db) {
    append(&db, 5, NOW).await;
    db.raw.exec("UPDATE audit_events SET seq = 100 WHERE seq = 2").await;
    db.raw.exec("UPDATE audit_events SET seq = 2 WHERE seq = 3").await;
    db.raw.exec("UPDATE audit_events SET seq = 3 WHERE seq = 100").await;
    assert_eq!(check(&db).await, bad(2, Problem::NotLinked));
}

/// 2021-11-15, 2021-12-15 and 2026-12-02: with 60 months kept from 2026-12-02, the cutoff is 2021-12-01.
async fn retention_removes_whole_old_months_and_stays_verifiable(db: Db) {
    append(&db, 3, 1_636_977_600).await;
    append(&db, 2, 1_639_569_600).await;
    append(&db, 2, NOW).await;
    let pruned = retention::prune(db.store.as_ref(), &auditor(), Actor::system(), 60, NOW).await.unwrap();
    assert_eq!(pruned.removed, 3);
    assert_eq!(pruned.cutoff, 1_638_316_800);
    // Four kept plus the record of the removal itself.
    assert_eq!(check(&db).await, Ok(5));
    let head = db.store.audit_head().await.unwrap();
    assert_eq!(head.base_seq, 3);
    let newest = db.store.audit_records_after(head.seq - 1, 1).await.unwrap().remove(0);
    assert_eq!(newest.event_type, "audit.pruned");
    // Nothing more to remove: a second run changes nothing.
    let again = retention::prune(db.store.as_ref(), &auditor(), Actor::system(), 60, NOW).await.unwrap();
    assert_eq!(again.removed, 0);
    assert_eq!(check(&db).await, Ok(5));
}

async fn removed_oldest_rows_without_retention_are_named(db: Db) {
    append(&db, 5, NOW).await;
    let second = db.store.audit_records_after(1, 1).await.unwrap().remove(0);
    db.raw.exec("DELETE FROM audit_events WHERE seq <= 2").await;
    assert_eq!(check(&db).await, bad(1, Problem::Missing));
    // Also moving the chain's start does not make it look like a retention.
    db.raw.exec(&format!("UPDATE audit_head SET base_seq = 2, base_hash = '{}' WHERE id = 1", second.hash)).await;
    assert_eq!(check(&db).await, bad(3, Problem::RemovedWithoutRetention));
}

async fn export_takes_a_period(db: Db) {
    append(&db, 2, NOW - 86_400).await;
    append(&db, 3, NOW).await;
    let lines = |from: &'static str, to: &'static str, format| {
        let store = db.store.clone();
        async move {
            let mut lines = Vec::new();
            let period = Period::parse(from, to).unwrap();
            export::export(store.as_ref(), period, format, |l| lines.push(l)).await.unwrap();
            lines
        }
    };
    assert_eq!(lines("2026-12-02", "2026-12-02", Format::JsonLines).await.len(), 3);
    assert_eq!(lines("2026-12-01", "2026-12-02", Format::JsonLines).await.len(), 5);
    assert!(lines("2020-01-01", "2020-12-31", Format::JsonLines).await.is_empty());
    let fhir: Vec<serde_json::Value> = lines("2026-12-01", "2026-12-01", Format::Fhir)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(fhir.len(), 2);
    assert_eq!(fhir[0]["resourceType"], "AuditEvent");
    assert_eq!(fhir[0]["action"], "E");
    assert_eq!(fhir[0]["outcome"], "0");
    assert_eq!(fhir[0]["agent"][0]["network"]["address"], "192.0.2.7");
    assert_eq!(fhir[0]["recorded"], "2026-12-01T12:00:00Z");
    assert!(Period::parse("2026-12-03", "2026-12-01").unwrap_err().to_string().contains("--from must be before --to"));
    assert!(Period::parse("gisteren", "2026-12-01").unwrap_err().to_string().starts_with("--from"));
}
