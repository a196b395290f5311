//! Queries for `LogoutOutboxStore` and the queueing of back-channel logouts (OpenID Connect
//! Back-Channel Logout 1.0) in the transactions that end sessions or revoke grants.

/// Whose sessions' portals hear of an end.
pub(crate) enum LogoutsFor<'a> {
    /// One session that ends.
    Session(&'a str),
    /// Every live session of an account (a password reset, an operator's reset).
    Account(&'a str),
    /// The live grants of a representative for one care client (a representation ended).
    Representative { account: &'a str, party: String },
}

macro_rules! impl_logout_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::LogoutOutboxStore for $store {
            async fn claim_due_logouts(
                &self,
                now: i64,
                lease_secs: i64,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::QueuedLogout>> {
                lease_due(self, "logout_outbox", now, lease_secs, limit).await?.iter().map(logout_from_row).collect()
            }

            async fn mark_logout_sent(&self, id: &str, now: i64) -> $crate::store::StoreResult<()> {
                sqlx::query("UPDATE logout_outbox SET sent_at = $1, locked_until = NULL WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn retry_logout(
                &self,
                id: &str,
                next_attempt_at: Option<i64>,
                error: &str,
            ) -> $crate::store::StoreResult<()> {
                retry_later(self, "logout_outbox", id, next_attempt_at, error).await
            }

            async fn logouts_of_session(
                &self,
                session: &$crate::domain::SessionId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::QueuedLogout>> {
                let rows = sqlx::query("SELECT * FROM logout_outbox WHERE session_id = $1 ORDER BY id")
                    .bind(session.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(logout_from_row).collect()
            }
        }

        /// Queues one back-channel logout per sid and portal (with a URI) that had a grant in the
        /// sessions `whom` names, in the transaction of the end, so a notice exists exactly when
        /// the end does. The sid is the one the portal saw (`issued_sid`, when a later sign-in of
        /// the same person moved the grant). At most one waits per sid and portal: a notice still
        /// waiting covers a second end; once it was sent, a later end (after a new sign-in to the
        /// portal in the same session) queues a new one.
        async fn queue_logouts<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            whom: $crate::store::sql::logouts::LogoutsFor<'_>,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            use $crate::store::sql::logouts::LogoutsFor;
            const QUEUE: &str = "INSERT INTO logout_outbox (id, client_id, session_id, subject, uri, created_at, \
                 attempts, next_attempt_at) \
                 SELECT DISTINCT COALESCE(g.issued_sid, g.session_id) || ':' || g.client_id || ':' || $2, \
                        g.client_id, COALESCE(g.issued_sid, g.session_id), a.subject, c.backchannel_logout_uri, \
                        $1, 0, $1 \
                 FROM grants g JOIN oauth_clients c ON c.id = g.client_id JOIN accounts a ON a.id = g.account_id \
                 WHERE c.backchannel_logout_uri IS NOT NULL AND g.session_id IS NOT NULL AND ";
            let query = match &whom {
                LogoutsFor::Session(_) => format!("{QUEUE} g.session_id = $3 ON CONFLICT DO NOTHING"),
                // After the sessions' own UPDATE (the lock order of `tx_end_session`): the ones
                // it just ended.
                LogoutsFor::Account(_) => format!(
                    "{QUEUE} g.session_id IN (SELECT id FROM sessions WHERE account_id = $3 AND ended_at = $1) \
                     ON CONFLICT DO NOTHING"
                ),
                LogoutsFor::Representative { .. } => format!(
                    "{QUEUE} g.account_id = $3 AND g.acting_for = $4 AND g.revoked_at IS NULL ON CONFLICT DO NOTHING"
                ),
            };
            // One id per notice: the statement's own random part after `<sid>:<client>`.
            let query = sqlx::query(&query).bind(now).bind($crate::crypto::random_token(9));
            let query = match &whom {
                LogoutsFor::Session(id) | LogoutsFor::Account(id) => query.bind(*id),
                LogoutsFor::Representative { account, party } => query.bind(*account).bind(party.clone()),
            };
            query.execute(&mut **tx).await?;
            Ok(())
        }

        fn logout_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::QueuedLogout> {
            use sqlx::Row;
            Ok($crate::store::QueuedLogout {
                id: r.try_get("id")?,
                client_id: $crate::domain::ClientId(r.try_get("client_id")?),
                session_id: $crate::domain::SessionId(r.try_get("session_id")?),
                subject: r.try_get("subject")?,
                uri: r.try_get("uri")?,
                created_at: r.try_get("created_at")?,
                attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                next_attempt_at: r.try_get("next_attempt_at")?,
                sent_at: r.try_get("sent_at")?,
            })
        }
    };
}
pub(crate) use impl_logout_store;
