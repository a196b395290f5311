//! Queries for `OutboxStore`.

macro_rules! impl_outbox_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::OutboxStore for $store {
            async fn enqueue_mail(&self, mail: &$crate::store::OutboxMail) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                insert_outbox_mail(&mut tx, mail).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn claim_due_mail(
                &self,
                now: i64,
                lease_secs: i64,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::OutboxMail>> {
                lease_due(self, "mail_outbox", now, lease_secs, limit).await?.iter().map(outbox_from_row).collect()
            }

            async fn mark_mail_sent(&self, id: &str, now: i64) -> $crate::store::StoreResult<()> {
                // The bodies may hold codes or temporary passwords: they are not kept once sent.
                sqlx::query(
                    "UPDATE mail_outbox SET sent_at = $1, locked_until = NULL, body_text = '', body_html = '' WHERE id = $2",
                )
                .bind(now)
                .bind(id)
                .execute(&self.writes)
                .await?;
                Ok(())
            }

            async fn retry_mail(&self, id: &str, next_attempt_at: i64, error: &str) -> $crate::store::StoreResult<()> {
                retry_later(self, "mail_outbox", id, Some(next_attempt_at), error).await
            }

            async fn mail_by_id(&self, id: &str) -> $crate::store::StoreResult<Option<$crate::store::OutboxMail>> {
                let row = sqlx::query("SELECT * FROM mail_outbox WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.map(|r| outbox_from_row(&r)).transpose()
            }
        }

        /// Leases the due rows of an outbox table (`mail_outbox`, `logout_outbox`: columns `id`,
        /// `sent_at`, `next_attempt_at`, `locked_until`, `created_at`) until `now + lease_secs`.
        /// Each lease is conditional on the row still being free: of two nodes, one claims it.
        async fn lease_due(
            store: &$store,
            table: &'static str,
            now: i64,
            lease_secs: i64,
            limit: i64,
        ) -> $crate::store::StoreResult<Vec<$row>> {
            use sqlx::Row;
            let candidates = sqlx::query(&format!(
                "SELECT id FROM {table} WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                 AND (locked_until IS NULL OR locked_until <= $1) ORDER BY next_attempt_at, created_at LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(&store.pool)
            .await?;
            let mut claimed = Vec::new();
            for candidate in candidates {
                let id: String = candidate.try_get("id")?;
                let row = sqlx::query(&format!(
                    "UPDATE {table} SET locked_until = $1 WHERE id = $2 AND sent_at IS NULL \
                     AND (locked_until IS NULL OR locked_until <= $3) RETURNING *"
                ))
                .bind(now + lease_secs)
                .bind(&id)
                .bind(now)
                .fetch_optional(&store.writes)
                .await?;
                claimed.extend(row);
            }
            Ok(claimed)
        }

        /// Counts a failed attempt at an outbox row (see [`lease_due`]) and frees its lease;
        /// `next_attempt_at` `None` gives it up. Only the start of `error` is kept.
        async fn retry_later(
            store: &$store,
            table: &'static str,
            id: &str,
            next_attempt_at: Option<i64>,
            error: &str,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(&format!(
                "UPDATE {table} SET attempts = attempts + 1, next_attempt_at = $1, locked_until = NULL, \
                 last_error = $2 WHERE id = $3"
            ))
            .bind(next_attempt_at)
            .bind(error.chars().take(500).collect::<String>())
            .bind(id)
            .execute(&store.writes)
            .await?;
            Ok(())
        }

        async fn insert_outbox_mail<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            m: &$crate::store::OutboxMail,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO mail_outbox (id, organisation_id, recipient, from_name, from_address, subject, body_text, \
                 body_html, created_at, attempts, next_attempt_at, locked_until, sent_at, last_error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, NULL)",
            )
            .bind(&m.id)
            .bind(m.organisation_id.as_ref().map(|o| o.as_str()))
            .bind(&m.recipient)
            .bind(&m.from_name)
            .bind(&m.from_address)
            .bind(&m.subject)
            .bind(m.body_text.expose())
            .bind(m.body_html.expose())
            .bind(m.created_at)
            .bind(i64::from(m.attempts))
            .bind(m.next_attempt_at)
            .bind(m.sent_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "mail"))?;
            Ok(())
        }

        fn outbox_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::OutboxMail> {
            use sqlx::Row;
            Ok($crate::store::OutboxMail {
                id: r.try_get("id")?,
                organisation_id: r.try_get::<Option<String>, _>("organisation_id")?.map($crate::domain::OrganisationId),
                recipient: r.try_get("recipient")?,
                from_name: r.try_get("from_name")?,
                from_address: r.try_get("from_address")?,
                subject: r.try_get("subject")?,
                body_text: $crate::domain::Secret::new(r.try_get("body_text")?),
                body_html: $crate::domain::Secret::new(r.try_get("body_html")?),
                created_at: r.try_get("created_at")?,
                attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                next_attempt_at: r.try_get("next_attempt_at")?,
                sent_at: r.try_get("sent_at")?,
            })
        }
    };
}
pub(crate) use impl_outbox_store;
