//! Walks the audit chain and names the first record that breaks it (`idp-admin audit verify`).

use std::fmt;

use super::{Auditor, EventType};
use crate::store::{Store, StoreError};

/// A place in the chain kept outside the database (a logged checkpoint, `idp-admin audit head`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

impl Checkpoint {
    /// `<seq>:<hash>`, as `audit head` prints it.
    pub fn parse(text: &str) -> Option<Self> {
        let (seq, hash) = text.trim().split_once(':')?;
        let seq = seq.parse().ok().filter(|s| *s > 0)?;
        (!hash.is_empty()).then(|| Self { seq, hash: hash.to_string() })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// The first record that is not what the chain says it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub seq: i64,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its content is not what was written (a field was altered, or rows were swapped).
    Altered,
    /// It does not follow the record before it: something was inserted, removed or reordered.
    NotLinked,
    /// Records are missing here: the chain jumps over this number.
    Missing,
    /// The newest records are gone: the chain's end says this record exists.
    Truncated,
    /// The chain's recorded end does not match its last record.
    EndMismatch,
    /// Old records were removed without a retention record saying so.
    RemovedWithoutRetention,
    /// A checkpoint kept outside the database names a record that is not there or differs.
    CheckpointMismatch,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.problem {
            Problem::Altered => "its content was changed (the hash does not match)",
            Problem::NotLinked => "it does not follow the record before it (inserted, removed or reordered)",
            Problem::Missing => "it is missing (the chain jumps over it)",
            Problem::Truncated => "it and later records were removed (the chain's end names it)",
            Problem::EndMismatch => "the chain's recorded end does not match the records",
            Problem::RemovedWithoutRetention => "earlier records were removed without a retention record",
            Problem::CheckpointMismatch => "it does not match the checkpoint given",
        };
        write!(f, "record {}: {why}", self.seq)
    }
}

/// What a whole, correct chain looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// Where the chain starts (after retention) and ends.
    pub first_seq: i64,
    pub head: Option<Checkpoint>,
}

const BATCH: i64 = 1000;

/// Verifies the whole chain, and that `checkpoint` (when given) is part of it.
pub async fn verify(
    store: &dyn Store,
    auditor: &Auditor,
    checkpoint: Option<&Checkpoint>,
) -> Result<Result<Verified, BadRecord>, StoreError> {
    let head = store.audit_head().await?;
    let bad = |seq, problem| Ok(Err(BadRecord { seq, problem }));
    let (mut expected_seq, mut expected_prev) = (head.base_seq + 1, head.base_hash.clone());
    let mut base_explained = head.base_seq == 0;
    let mut records = 0u64;
    let mut checkpoint_seen = checkpoint.is_none_or(|c| c.seq <= head.base_seq);
    let mut after = head.base_seq;
    // The chain as far as the head read above: records appended while the walk runs (a live
    // server, other nodes) belong to a later check. A row beyond the head that no append made
    // would make the next append fail (its `seq` is taken), which is noticed at once.
    let mut reached_head = false;
    loop {
        let batch = store.audit_records_after(after, BATCH).await?;
        for record in &batch {
            if record.seq > head.seq {
                reached_head = true;
                break;
            }
            if record.seq != expected_seq {
                return bad(expected_seq, Problem::Missing);
            }
            if record.prev_hash != expected_prev {
                return bad(record.seq, Problem::NotLinked);
            }
            if auditor.hash(record) != record.hash {
                return bad(record.seq, Problem::Altered);
            }
            if record.event_type == EventType::AuditPruned.as_str() && head.base_seq > 0 {
                let detail: serde_json::Value = serde_json::from_str(&record.detail).unwrap_or_default();
                if detail["through_seq"].as_i64() == Some(head.base_seq)
                    && detail["through_hash"].as_str() == Some(head.base_hash.as_str())
                {
                    base_explained = true;
                }
            }
            if let Some(c) = checkpoint.filter(|c| c.seq == record.seq) {
                if c.hash != record.hash {
                    return bad(record.seq, Problem::CheckpointMismatch);
                }
                checkpoint_seen = true;
            }
            expected_seq += 1;
            expected_prev = record.hash.clone();
            records += 1;
        }
        match batch.last() {
            Some(last) if !reached_head && batch.len() as i64 == BATCH => after = last.seq,
            _ => break,
        }
    }
    let last = expected_seq - 1;
    if last < head.seq {
        return bad(last + 1, Problem::Truncated);
    }
    // Records past the head are appends made during the walk only if the head has moved since:
    // an append writes its record and moves the head in one transaction. Otherwise someone wound
    // the head back (or added rows) by hand.
    let wound_back = reached_head && store.audit_head().await?.seq == head.seq;
    if wound_back && last == head.seq {
        // Name the first record past the end: a forged one by its hash, else where the end is wrong.
        let (mut seq, mut prev) = (expected_seq, expected_prev.clone());
        for record in store.audit_records_after(head.seq, BATCH).await? {
            if record.seq != seq {
                return bad(seq, Problem::Missing);
            }
            if record.prev_hash != prev {
                return bad(record.seq, Problem::NotLinked);
            }
            if auditor.hash(&record) != record.hash {
                return bad(record.seq, Problem::Altered);
            }
            seq += 1;
            prev = record.hash.clone();
        }
        return bad(head.seq + 1, Problem::EndMismatch);
    }
    if wound_back || expected_prev != head.hash {
        return bad(head.seq.max(head.base_seq + 1), Problem::EndMismatch);
    }
    if !base_explained {
        return bad(head.base_seq + 1, Problem::RemovedWithoutRetention);
    }
    if !checkpoint_seen {
        let seq = checkpoint.map_or(expected_seq, |c| c.seq);
        return bad(seq, Problem::CheckpointMismatch);
    }
    Ok(Ok(Verified {
        records,
        first_seq: head.base_seq + 1,
        head: (head.seq > 0).then_some(Checkpoint { seq: head.seq, hash: head.hash }),
    }))
}
