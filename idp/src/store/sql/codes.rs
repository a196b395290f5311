//! The grant a redeemed authorization code creates (the codes themselves live in the key-value
//! store: `oidc::codes`).

macro_rules! impl_code_grant {
    ($row:ty) => {
        /// Creates the grant of a redeemed code, with its first refresh token, while the code's
        /// session is live. The grant's id was chosen with the code, so a grant already there
        /// means the code was redeemed before; of racing redemptions the primary key lets one in.
        async fn tx_grant_for_code<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            grant: &$crate::store::Grant,
            refresh: Option<&$crate::store::RefreshToken>,
        ) -> $crate::store::StoreResult<$crate::store::CodeGrant> {
            let session = grant.session_id.as_ref().map(|s| s.as_str());
            // On PostgreSQL the session's row is written first: a sign-out (`tx_end_session`,
            // `end_account_sessions`) or a re-authentication moving its grants (`tx_move_grants`)
            // writes that row first too, so the two transactions take turns on it. Without this,
            // under READ COMMITTED a sign-out that runs meanwhile would not see the grant made
            // here, and this redemption would not see the sign-out: a live grant for an ended
            // session. On SQLite the write lock (`BEGIN IMMEDIATE`) already serialises them, so
            // the check is part of the one statement that inserts.
            let sqlite = <<$row as sqlx::Row>::Database as sqlx::Database>::NAME == "SQLite";
            if !sqlite {
                sqlx::query("UPDATE sessions SET ended_at = ended_at WHERE id = $1 AND ended_at IS NULL")
                    .bind(session)
                    .execute(&mut **tx)
                    .await?;
            }
            let query = sqlx::query(
                "INSERT INTO grants (id, client_id, account_id, session_id, scope, auth_time, acr, amr, \
                 created_at, expires_at, revoked_at, acting_for) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
                 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $4 AND ended_at IS NULL) \
                 ON CONFLICT (id) DO NOTHING",
            );
            let done = bind_grant(query, grant).execute(&mut **tx).await?;
            if done.rows_affected() != 1 {
                // Nothing inserted: the grant is there already (reuse, also once its session has
                // ended or its grants moved to a new session), or the session has ended.
                let exists = sqlx::query("SELECT 1 FROM grants WHERE id = $1")
                    .bind(grant.id.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
                return Ok(match exists {
                    Some(_) => $crate::store::CodeGrant::Exists,
                    None => $crate::store::CodeGrant::SessionEnded,
                });
            }
            if let Some(t) = refresh {
                insert_refresh_token(tx, t).await?;
            }
            Ok($crate::store::CodeGrant::Created)
        }
    };
}
pub(crate) use impl_code_grant;
