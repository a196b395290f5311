//! Queries for `CodeStore`.

macro_rules! impl_code_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::CodeStore for $store {
            async fn insert_code(&self, c: &$crate::store::AuthorizationCode) -> $crate::store::StoreResult<()> {
                // Every single sign-on writes one: on SQLite it runs on the writer thread, so the
                // one connection that writes is held only while SQLite works.
                let (writes, c) = (self.writes.clone(), c.clone());
                self.on_writer(async move {
                    sqlx::query(
                        "INSERT INTO authorization_codes (digest, client_id, account_id, session_id, redirect_uri, \
                         scope, nonce, code_challenge, auth_time, acr, amr, grant_id, expires_at, redeemed_at, \
                         acting_for) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(&c.digest)
                    .bind(c.client_id.as_str())
                    .bind(c.account_id.as_str())
                    .bind(c.session_id.as_str())
                    .bind(&c.redirect_uri)
                    .bind(c.scope.to_string())
                    .bind(&c.nonce)
                    .bind(&c.code_challenge)
                    .bind(c.auth_time)
                    .bind(&c.acr)
                    .bind($crate::store::sql::to_json(&c.amr))
                    .bind(c.grant_id.as_str())
                    .bind(c.expires_at)
                    .bind(c.redeemed_at)
                    .bind(c.acting_for.as_ref().map(|p| p.to_stored()))
                    .execute(&writes)
                    .await
                    .map_err(|e| $crate::store::map_unique(e, "code"))?;
                    Ok(())
                })
                .await
            }

            async fn code_by_digest(
                &self,
                digest: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::AuthorizationCode>> {
                let row = sqlx::query("SELECT * FROM authorization_codes WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| code_from_row(&r)).transpose()
            }

            async fn redeem_code(
                &self,
                digest: &str,
                now: i64,
                grant: &$crate::store::Grant,
                refresh: Option<&$crate::store::RefreshToken>,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                if !tx_redeem_code(&mut tx, digest, now, grant, refresh).await? {
                    return Ok(false);
                }
                tx.commit().await?;
                Ok(true)
            }
        }

        /// Redeems the code and creates its grant; false (and nothing written) when it was redeemed
        /// before, is unknown, or its session has ended.
        async fn tx_redeem_code<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            digest: &str,
            now: i64,
            grant: &$crate::store::Grant,
            refresh: Option<&$crate::store::RefreshToken>,
        ) -> $crate::store::StoreResult<bool> {
            // The code is redeemed only while its session is live. On PostgreSQL the session's row
            // is written first: a sign-out (`tx_end_session`, `end_account_sessions`) or a
            // re-authentication moving its grants (`tx_move_grants`) writes that row first too, so
            // the two transactions take turns on it. Without this, under READ COMMITTED a sign-out
            // that runs meanwhile would not see the grant made here, and this redemption would not
            // see the sign-out: a live grant for an ended session. Now either the redemption
            // commits first and the sign-out (its later statements see the committed grant)
            // revokes it, or the sign-out commits first and this statement, re-checked on the
            // ended row, changes nothing. On SQLite the write lock (`BEGIN IMMEDIATE`) already
            // serialises them, so the check is part of the one statement that redeems: one round
            // trip fewer while that lock is held.
            let sqlite = <<$row as sqlx::Row>::Database as sqlx::Database>::NAME == "SQLite";
            if !sqlite {
                let live = sqlx::query(
                    "UPDATE sessions SET ended_at = ended_at \
                     WHERE id = (SELECT session_id FROM authorization_codes WHERE digest = $1) AND ended_at IS NULL",
                )
                .bind(digest)
                .execute(&mut **tx)
                .await?;
                if live.rows_affected() != 1 {
                    return Ok(false);
                }
            }
            // The "not yet redeemed" condition makes the database serialise concurrent
            // redemptions: exactly one sees a changed row.
            let done = sqlx::query(
                "UPDATE authorization_codes SET redeemed_at = $1 WHERE digest = $2 AND redeemed_at IS NULL \
                 AND EXISTS (SELECT 1 FROM sessions WHERE sessions.id = authorization_codes.session_id \
                 AND sessions.ended_at IS NULL)",
            )
            .bind(now)
            .bind(digest)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            insert_grant(tx, grant).await?;
            if let Some(t) = refresh {
                insert_refresh_token(tx, t).await?;
            }
            Ok(true)
        }

        fn code_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::AuthorizationCode> {
            use sqlx::Row;
            use $crate::store::sql::{json_list, scopes};
            Ok($crate::store::AuthorizationCode {
                digest: r.try_get("digest")?,
                client_id: $crate::domain::ClientId(r.try_get("client_id")?),
                account_id: $crate::domain::AccountId(r.try_get("account_id")?),
                acting_for: $crate::store::sql::party(r.try_get("acting_for")?)?,
                session_id: $crate::domain::SessionId(r.try_get("session_id")?),
                redirect_uri: r.try_get("redirect_uri")?,
                scope: scopes(&r.try_get::<String, _>("scope")?)?,
                nonce: r.try_get("nonce")?,
                code_challenge: r.try_get("code_challenge")?,
                auth_time: r.try_get("auth_time")?,
                acr: r.try_get("acr")?,
                amr: json_list(&r.try_get::<String, _>("amr")?)?,
                grant_id: $crate::domain::GrantId(r.try_get("grant_id")?),
                expires_at: r.try_get("expires_at")?,
                redeemed_at: r.try_get("redeemed_at")?,
            })
        }
    };
}
pub(crate) use impl_code_store;
