//! Queries for `AccountStore`.

macro_rules! impl_account_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AccountStore for $store {
            async fn create_account(&self, a: &$crate::store::Account) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                insert_account(&mut tx, a).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn account_by_username(
                &self,
                normalised: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Account>> {
                let row = sqlx::query("SELECT * FROM accounts WHERE username_normalised = $1")
                    .bind(normalised)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| account_from_row(&r)).transpose()
            }

            async fn account_by_id(
                &self,
                id: &$crate::domain::AccountId,
            ) -> $crate::store::StoreResult<Option<$crate::store::Account>> {
                let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| account_from_row(&r)).transpose()
            }

            async fn change_password(
                &self,
                id: &$crate::domain::AccountId,
                hash: &$crate::domain::Secret<String>,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_change_password(&mut tx, id, hash, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_secret_question(
                &self,
                id: &$crate::domain::AccountId,
                question: &str,
                answer_hash: &$crate::domain::Secret<String>,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query("UPDATE accounts SET secret_question = $1, secret_answer_hash = $2 WHERE id = $3")
                    .bind(question)
                    .bind(answer_hash.expose())
                    .bind(id.as_str())
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn secret_question(&self, id: &$crate::domain::AccountId) -> $crate::store::StoreResult<Option<String>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT secret_question FROM accounts WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(r) => r.try_get("secret_question")?,
                    None => None,
                })
            }

            async fn list_accounts(&self) -> $crate::store::StoreResult<Vec<$crate::store::Account>> {
                let rows =
                    sqlx::query("SELECT * FROM accounts ORDER BY username_normalised").fetch_all(&self.pool).await?;
                rows.iter().map(account_from_row).collect()
            }
        }

        async fn tx_change_password<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &$crate::domain::AccountId,
            hash: &$crate::domain::Secret<String>,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("UPDATE accounts SET password_hash = $1, must_change_password = FALSE, password_via_mail = FALSE WHERE id = $2")
                .bind(hash.expose())
                .bind(id.as_str())
                .execute(&mut **tx)
                .await?;
            revoke_trusted_devices(tx, id.as_str(), now).await
        }

        async fn insert_account<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            a: &$crate::store::Account,
        ) -> $crate::store::StoreResult<()> {
            use sqlx::Row;
            // Both unique columns can clash at once (the same name in another case); "taken" is
            // the answer that tells the person most, so look first. The unique indexes still
            // decide when two activations race.
            let clashes = sqlx::query(
                "SELECT username_normalised FROM accounts WHERE username_normalised = $1 OR username_skeleton = $2",
            )
            .bind(&a.username_normalised)
            .bind(&a.username_skeleton)
            .fetch_all(&mut **tx)
            .await?;
            if !clashes.is_empty() {
                let mut taken = false;
                for row in &clashes {
                    taken |= row.try_get::<String, _>("username_normalised")? == a.username_normalised;
                }
                return Err($crate::store::StoreError::Conflict(if taken {
                    "username"
                } else {
                    $crate::store::USERNAME_LOOKALIKE
                }));
            }
            sqlx::query(
                "INSERT INTO accounts (id, subject, username, username_normalised, email, email_verified, \
                     given_name, family_name, birth_date, password_hash, created_at, disabled, email_normalised, \
                     must_change_password, password_via_mail, username_skeleton) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(a.id.as_str())
            .bind(a.subject.as_str())
            .bind(&a.username)
            .bind(&a.username_normalised)
            .bind(&a.email)
            .bind(a.email_verified)
            .bind(&a.given_name)
            .bind(&a.family_name)
            .bind(&a.birth_date)
            .bind(a.password_hash.as_ref().map(|h| h.expose().clone()))
            .bind(a.created_at)
            .bind(a.disabled)
            .bind(a.email.as_deref().map($crate::activation::normalise_email))
            .bind(a.must_change_password)
            .bind(a.password_via_mail)
            .bind(&a.username_skeleton)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                $crate::store::map_unique_among(
                    e,
                    &[("username_normalised", "username"), ("username_skeleton", $crate::store::USERNAME_LOOKALIKE)],
                    "account",
                )
            })?;
            Ok(())
        }

        /// Fills in the skeleton of accounts made before migration 0012 (the database cannot
        /// compute it). Idempotent, so every node runs it at start-up; of look-alikes made before
        /// the rule, the oldest account gets the skeleton and the others keep none (they still
        /// sign in) and are logged, for an operator to look at.
        async fn backfill_username_skeletons(
            pool: &sqlx::Pool<<$row as sqlx::Row>::Database>,
        ) -> $crate::store::StoreResult<()> {
            use sqlx::Row;
            let rows = sqlx::query("SELECT id, username FROM accounts WHERE username_skeleton IS NULL ORDER BY created_at, id")
                .fetch_all(pool)
                .await?;
            for row in rows {
                let id: String = row.try_get("id")?;
                let skeleton = $crate::domain::Username::skeleton_of(&row.try_get::<String, _>("username")?);
                let updated =
                    sqlx::query("UPDATE accounts SET username_skeleton = $1 WHERE id = $2 AND username_skeleton IS NULL")
                        .bind(&skeleton)
                        .bind(&id)
                        .execute(pool)
                        .await;
                match updated {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        tracing::warn!(account = %id, "username looks like another account's; left without a skeleton");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }

        fn account_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Account> {
            use sqlx::Row;
            let username: String = r.try_get("username")?;
            // Only a look-alike made before migration 0012 has none (see the backfill).
            let username_skeleton = match r.try_get::<Option<String>, _>("username_skeleton")? {
                Some(skeleton) => skeleton,
                None => $crate::domain::Username::skeleton_of(&username),
            };
            Ok($crate::store::Account {
                id: $crate::domain::AccountId(r.try_get("id")?),
                subject: $crate::domain::Subject(r.try_get("subject")?),
                username,
                username_normalised: r.try_get("username_normalised")?,
                username_skeleton,
                email: r.try_get("email")?,
                email_verified: r.try_get("email_verified")?,
                given_name: r.try_get("given_name")?,
                family_name: r.try_get("family_name")?,
                birth_date: r.try_get("birth_date")?,
                password_hash: r.try_get::<Option<String>, _>("password_hash")?.map($crate::domain::Secret::new),
                created_at: r.try_get("created_at")?,
                disabled: r.try_get("disabled")?,
                must_change_password: r.try_get("must_change_password")?,
                password_via_mail: r.try_get("password_via_mail")?,
            })
        }
    };
}
pub(crate) use impl_account_store;
