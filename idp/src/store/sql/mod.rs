//! The SQL shared by both backends. SQLite and PostgreSQL accept the same statements here
//! (`$n` placeholders, `RETURNING`, `ON CONFLICT`), so each aggregate's queries are written once,
//! as a macro that `sqlite/` and `postgres/` expand for their own pool type. The schemas differ
//! only in column types (see `migrations/`).

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod changes;
pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod factors;
pub(crate) mod grants;
pub(crate) mod invitations;
pub(crate) mod keys;
pub(crate) mod logouts;
pub(crate) mod organisations;
pub(crate) mod outbox;
pub(crate) mod representations;
pub(crate) mod resets;
pub(crate) mod sessions;
pub(crate) mod tx;

use serde::de::DeserializeOwned;

use super::{StoreError, StoreResult};
use crate::domain::Scopes;

pub(crate) fn json_list<T: DeserializeOwned>(text: &str) -> StoreResult<Vec<T>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn scopes(text: &str) -> StoreResult<Scopes> {
    Scopes::parse(text).ok_or_else(|| StoreError::Corrupt(format!("scope {text:?}")))
}

/// The `acting_for` column: empty for someone acting for themself.
pub(crate) fn party(stored: Option<String>) -> StoreResult<Option<crate::domain::Party>> {
    stored
        .map(|s| crate::domain::Party::parse_stored(&s).ok_or_else(|| StoreError::Corrupt(format!("acting_for {s:?}"))))
        .transpose()
}

/// A stored kind, role or status (`domain::representation`).
pub(crate) fn spelled<T: crate::domain::representation::Spelled>(text: String) -> StoreResult<T> {
    T::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("representation value {text:?}")))
}

pub(crate) fn sections(text: String) -> StoreResult<crate::domain::representation::Sections> {
    crate::domain::representation::Sections::parse(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("sections {text:?}")))
}

/// A transaction of one backend (see [`crate::store::Tx`]). On SQLite it also holds the audit
/// chain's end as this process last saw it committed, and the end after this transaction's own
/// appends, remembered when it commits (see `AuditTx` in `sql/tx.rs`).
pub struct SqlTx<DB: sqlx::Database>(
    pub(crate) sqlx::Transaction<'static, DB>,
    pub(crate) Option<HeadCache>,
    pub(crate) Option<crate::store::AuditHead>,
);

/// The audit chain's end as this process last appended or read it. Only a hint: an append that
/// finds the chain's end elsewhere writes nothing and reads it again.
pub(crate) type HeadCache = std::sync::Arc<std::sync::Mutex<Option<crate::store::AuditHead>>>;

pub(crate) fn cached_head(cache: &HeadCache) -> Option<crate::store::AuditHead> {
    cache.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

pub(crate) fn cache_head(cache: &HeadCache, head: Option<crate::store::AuditHead>) {
    *cache.lock().unwrap_or_else(|p| p.into_inner()) = head;
}

/// Remembers `head` unless a later end is remembered already (ends only move forward).
pub(crate) fn advance_head(cache: &HeadCache, head: crate::store::AuditHead) {
    let mut cached = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cached.as_ref().is_none_or(|c| c.seq < head.seq) {
        *cached = Some(head);
    }
}

/// Implements every store trait for a backend type with a `pool` field.
macro_rules! impl_sql_store {
    ($store:ty, $row:ty) => {
        $crate::store::sql::organisations::impl_organisation_store!($store, $row);
        $crate::store::sql::clients::impl_client_store!($store, $row);
        $crate::store::sql::accounts::impl_account_store!($store, $row);
        $crate::store::sql::keys::impl_key_store!($store, $row);
        $crate::store::sql::sessions::impl_session_store!($store, $row);
        $crate::store::sql::codes::impl_code_grant!($row);
        $crate::store::sql::grants::impl_grant_store!($store, $row);
        $crate::store::sql::changes::impl_change_store!($store, $row);
        $crate::store::sql::outbox::impl_outbox_store!($store, $row);
        $crate::store::sql::invitations::impl_invitation_store!($store, $row);
        $crate::store::sql::resets::impl_reset_store!($store, $row);
        $crate::store::sql::factors::impl_factor_store!($store, $row);
        $crate::store::sql::audit::impl_audit_store!($store, $row);
        $crate::store::sql::representations::impl_representation_store!($store, $row);
        $crate::store::sql::logouts::impl_logout_store!($store, $row);
    };
}
pub(crate) use impl_sql_store;
