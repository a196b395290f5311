//! Queries for `AuditStore` and the audit part of `Tx`: the append-only audit chain (docs/audit.md).

macro_rules! impl_audit_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AuditStore for $store {
            async fn audit_head(&self) -> $crate::store::StoreResult<$crate::store::AuditHead> {
                let row = sqlx::query("SELECT * FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
                audit_head_from_row(&row)
            }

            async fn audit_records_after(
                &self,
                after_seq: i64,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AuditRecord>> {
                let rows = sqlx::query("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn audit_records_between(
                &self,
                from: i64,
                to: i64,
                after_seq: i64,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AuditRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM audit_events WHERE time >= $1 AND time < $2 AND seq > $3 ORDER BY seq LIMIT $4",
                )
                .bind(from)
                .bind(to)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn audit_records_of(
                &self,
                persons: &[&str],
                except: &[&str],
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AuditRecord>> {
                // One placeholder per person ($2, …) and per event type left out: short lists.
                let list = |from: usize, n: usize| (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let who = list(2, persons.len());
                let left_out = match except.is_empty() {
                    true => String::new(),
                    false => format!(" AND event_type NOT IN ({})", list(2 + persons.len(), except.len())),
                };
                let sql = format!(
                    "SELECT * FROM audit_events WHERE (actor_id IN ({who}) OR subject_id IN ({who})){left_out} \
                     ORDER BY seq DESC LIMIT $1"
                );
                let mut query = sqlx::query(&sql).bind(limit);
                for value in persons.iter().chain(except) {
                    query = query.bind(*value);
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter().map(audit_from_row).collect()
            }
        }

        fn audit_head_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::AuditHead> {
            use sqlx::Row;
            Ok($crate::store::AuditHead {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
                base_seq: r.try_get("base_seq")?,
                base_hash: r.try_get("base_hash")?,
            })
        }

        fn audit_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::AuditRecord> {
            use sqlx::Row;
            Ok($crate::store::AuditRecord {
                seq: r.try_get("seq")?,
                id: r.try_get("id")?,
                time: r.try_get("time")?,
                event_type: r.try_get("event_type")?,
                action: r.try_get("action")?,
                outcome: r.try_get("outcome")?,
                actor_id: r.try_get("actor_id")?,
                actor_name: r.try_get("actor_name")?,
                actor_role: r.try_get("actor_role")?,
                actor_is_requester: r.try_get("actor_is_requester")?,
                subject_id: r.try_get("subject_id")?,
                client_address: r.try_get("client_address")?,
                object_type: r.try_get("object_type")?,
                object_id: r.try_get("object_id")?,
                node: r.try_get("node")?,
                organisation_id: r.try_get("organisation_id")?,
                client_id: r.try_get("client_id")?,
                detail: r.try_get("detail")?,
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        }

        async fn lock_audit_head<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
        ) -> $crate::store::StoreResult<$crate::store::AuditHead> {
            // An UPDATE takes the row lock until commit, so appends from several connections and
            // nodes queue here and each sees the committed end.
            let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING *")
                .fetch_one(&mut **tx)
                .await?;
            audit_head_from_row(&row)
        }

        async fn read_audit_head<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
        ) -> $crate::store::StoreResult<$crate::store::AuditHead> {
            let row = sqlx::query("SELECT * FROM audit_head WHERE id = 1").fetch_one(&mut **tx).await?;
            audit_head_from_row(&row)
        }

        /// Appends `a` in one statement, only if it follows the chain's end (`seq - 1`,
        /// `prev_hash`); false when the end is elsewhere. A trigger moves the end to the new record
        /// (migration 0016), inside the database: no further round trip.
        async fn insert_audit_record<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            a: &$crate::store::AuditRecord,
        ) -> $crate::store::StoreResult<bool> {
            let written = sqlx::query(
                "INSERT INTO audit_events (seq, id, time, event_type, action, outcome, actor_id, actor_name, actor_role, \
                 actor_is_requester, subject_id, client_address, object_type, object_id, node, organisation_id, \
                 client_id, detail, prev_hash, hash) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 \
                 FROM audit_head WHERE id = 1 AND seq = $21 AND hash = $22",
            )
            .bind(a.seq)
            .bind(&a.id)
            .bind(a.time)
            .bind(&a.event_type)
            .bind(&a.action)
            .bind(&a.outcome)
            .bind(&a.actor_id)
            .bind(&a.actor_name)
            .bind(&a.actor_role)
            .bind(a.actor_is_requester)
            .bind(&a.subject_id)
            .bind(&a.client_address)
            .bind(&a.object_type)
            .bind(&a.object_id)
            .bind(&a.node)
            .bind(&a.organisation_id)
            .bind(&a.client_id)
            .bind(&a.detail)
            .bind(&a.prev_hash)
            .bind(&a.hash)
            .bind(a.seq - 1)
            .bind(&a.prev_hash)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "audit record"))?;
            Ok(written.rows_affected() == 1)
        }

        async fn prune_audit_records<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            through_seq: i64,
            base_hash: &str,
        ) -> $crate::store::StoreResult<u64> {
            let gone = sqlx::query("DELETE FROM audit_events WHERE seq <= $1").bind(through_seq).execute(&mut **tx).await?;
            sqlx::query("UPDATE audit_head SET base_seq = $1, base_hash = $2 WHERE id = 1")
                .bind(through_seq)
                .bind(base_hash)
                .execute(&mut **tx)
                .await?;
            Ok(gone.rows_affected())
        }
    };
}
pub(crate) use impl_audit_store;
