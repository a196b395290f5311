//! Queries for `SessionStore`.

/// A session with whether its account might represent anyone (`Session::might_represent`), in
/// the one statement that reads it: two indexed existence checks, no extra round trip.
macro_rules! session_select {
    ($where:literal) => {
        concat!(
            "SELECT s.*, (EXISTS (SELECT 1 FROM care_clients c WHERE c.account_id = s.account_id) \
             OR EXISTS (SELECT 1 FROM representations r WHERE r.account_id = s.account_id \
             AND r.status IN ('invited', 'active'))) AS might_represent FROM sessions s WHERE ",
            $where
        )
    };
}
pub(crate) const SESSION_BY_DIGEST: &str = session_select!("s.token_digest = $1");
pub(crate) const SESSION_BY_ID: &str = session_select!("s.id = $1");

macro_rules! impl_session_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::SessionStore for $store {
            async fn create_session(&self, s: &$crate::store::Session) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_create_session(&mut tx, s).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_by_token_digest(
                &self,
                digest: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Session>> {
                let row = sqlx::query($crate::store::sql::sessions::SESSION_BY_DIGEST)
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| session_from_row(&r)).transpose()
            }

            async fn session_by_id(
                &self,
                id: &$crate::domain::SessionId,
            ) -> $crate::store::StoreResult<Option<$crate::store::Session>> {
                let row = sqlx::query($crate::store::sql::sessions::SESSION_BY_ID)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| session_from_row(&r)).transpose()
            }

            async fn end_session(
                &self,
                id: &$crate::domain::SessionId,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let ended = tx_end_session(&mut tx, id, now).await?;
                tx.commit().await?;
                Ok(ended)
            }
        }

        async fn tx_create_session<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            s: &$crate::store::Session,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO sessions (id, token_digest, account_id, auth_time, amr, acr, created_at, expires_at, ended_at, factors, \
                 acting_for) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(s.id.as_str())
            .bind(&s.token_digest)
            .bind(s.account_id.as_str())
            .bind(s.auth_time)
            .bind($crate::store::sql::to_json(&s.amr))
            .bind(&s.acr)
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(s.ended_at)
            .bind($crate::store::sql::to_json(&s.factors))
            .bind(s.acting_for.as_ref().map(|p| p.to_stored()))
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "session"))?;
            Ok(())
        }

        /// The session ends and its grants are revoked, so nothing issued under it outlives it;
        /// its unredeemed codes die with it (a code's grant is made only while its session is
        /// live). The session row is written first: a code redemption (`tx_grant_for_code`)
        /// locks it first too, so the two never miss each other's writes.
        async fn tx_end_session<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &$crate::domain::SessionId,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            let done = sqlx::query("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(now)
                .bind(id.as_str())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() == 1 {
                queue_logouts(tx, $crate::store::sql::logouts::LogoutsFor::Session(id.as_str()), now).await?;
            }
            sqlx::query("UPDATE grants SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id.as_str())
                .execute(&mut **tx)
                .await?;
            bump_revocations(tx).await?;
            Ok(done.rows_affected() == 1)
        }

        /// Ends every session of the account and, with them, every grant (also of sessions that
        /// ended before) and so every code not yet redeemed. The sessions first, in the same order
        /// as `tx_end_session`: a code redemption racing with this waits for the session row and
        /// then finds it ended, or commits its grant before the grants below are revoked.
        async fn end_account_sessions<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            account: &str,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND ended_at IS NULL")
                .bind(now)
                .bind(account)
                .execute(&mut **tx)
                .await?;
            queue_logouts(tx, $crate::store::sql::logouts::LogoutsFor::Account(account), now).await?;
            // Through the account's sessions (indexed both ways): every grant of a person comes
            // from a code, so it has a session.
            sqlx::query(
                "UPDATE grants SET revoked_at = $1 WHERE revoked_at IS NULL \
                 AND session_id IN (SELECT id FROM sessions WHERE account_id = $2)",
            )
                .bind(now)
                .bind(account)
                .execute(&mut **tx)
                .await?;
            bump_revocations(tx).await
        }

        fn session_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Session> {
            use sqlx::Row;
            Ok($crate::store::Session {
                id: $crate::domain::SessionId(r.try_get("id")?),
                token_digest: r.try_get("token_digest")?,
                account_id: $crate::domain::AccountId(r.try_get("account_id")?),
                acting_for: $crate::store::sql::party(r.try_get("acting_for")?)?,
                auth_time: r.try_get("auth_time")?,
                amr: $crate::store::sql::json_list(&r.try_get::<String, _>("amr")?)?,
                acr: r.try_get("acr")?,
                factors: $crate::store::sql::json_list(&r.try_get::<String, _>("factors")?)?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                ended_at: r.try_get("ended_at")?,
                might_represent: r.try_get("might_represent")?,
            })
        }
    };
}
pub(crate) use impl_session_store;
