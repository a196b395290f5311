//! Queries for `PolicyStore` and `InvitationStore`, and their part of `Tx`.

macro_rules! impl_invitation_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::PolicyStore for $store {
            async fn set_policy(&self, p: &$crate::store::OrganisationPolicy) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_set_policy(&mut tx, p).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn policy(
                &self,
                organisation: &$crate::domain::OrganisationId,
            ) -> $crate::store::StoreResult<Option<$crate::store::OrganisationPolicy>> {
                let row = sqlx::query("SELECT * FROM organisation_policies WHERE organisation_id = $1")
                    .bind(organisation.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| policy_from_row(&r)).transpose()
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::InvitationStore for $store {
            async fn invitation_by_id(&self, id: &str) -> $crate::store::StoreResult<Option<$crate::store::Invitation>> {
                let row = sqlx::query("SELECT * FROM invitations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.map(|r| invitation_from_row(&r)).transpose()
            }

            async fn invitations_by_email(
                &self,
                email_normalised: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Invitation>> {
                let rows = sqlx::query("SELECT * FROM invitations WHERE email_normalised = $1 ORDER BY created_at DESC, id")
                    .bind(email_normalised)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(invitation_from_row).collect()
            }

            async fn count_invitation_failure(&self, id: &str, max: u32) -> $crate::store::StoreResult<Option<u32>> {
                use sqlx::Row;
                let row = sqlx::query(
                    "UPDATE invitations SET failures = failures + 1 WHERE id = $1 AND failures < $2 RETURNING failures",
                )
                .bind(id)
                .bind(i64::from(max))
                .fetch_optional(&self.writes)
                .await?;
                Ok(match row {
                    Some(r) => Some(u32::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX)),
                    None => None,
                })
            }

            async fn release_invitation_attempt(&self, id: &str) -> $crate::store::StoreResult<()> {
                sqlx::query("UPDATE invitations SET failures = failures - 1 WHERE id = $1 AND failures > 0")
                    .bind(id)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn invitation_by_secret(&self, digest: &str) -> $crate::store::StoreResult<Option<$crate::store::Invitation>> {
                let row = sqlx::query("SELECT * FROM invitations WHERE secret_digest = $1")
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| invitation_from_row(&r)).transpose()
            }
        }

        /// Stores the organisation's whole policy, replacing the one it had.
        /// Stores the policy and bumps the clients' generation: nodes keep policies in memory with
        /// the clients (`AppState::policy`), so every writer of a policy makes them read it again.
        async fn tx_set_policy<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            p: &$crate::store::OrganisationPolicy,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO organisation_policies (organisation_id, activation_method, password_rules, secret_question, \
                 mail_from_name, mail_from_address, portal_url, invitation_ttl_secs, updated_at, \
                 min_level, mailed_token, trusted_device_days) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (organisation_id) DO UPDATE SET activation_method = excluded.activation_method, \
                 password_rules = excluded.password_rules, secret_question = excluded.secret_question, \
                 mail_from_name = excluded.mail_from_name, mail_from_address = excluded.mail_from_address, \
                 portal_url = excluded.portal_url, invitation_ttl_secs = excluded.invitation_ttl_secs, \
                 updated_at = excluded.updated_at, min_level = excluded.min_level, \
                 mailed_token = excluded.mailed_token, trusted_device_days = excluded.trusted_device_days",
            )
            .bind(p.organisation_id.as_str())
            .bind(p.activation_method.as_str())
            .bind($crate::store::sql::to_json(&p.password_rules))
            .bind(p.secret_question)
            .bind(&p.mail_from_name)
            .bind(&p.mail_from_address)
            .bind(&p.portal_url)
            .bind(p.invitation_ttl_secs)
            .bind(p.updated_at)
            .bind(p.min_level.as_str())
            .bind(p.mailed_token)
            .bind(p.trusted_device_days)
            .execute(&mut **tx)
            .await?;
            tx_bump_generation(tx, $crate::store::Cached::Clients).await
        }

        /// Voids the open invitations of the same organisation and address and stores this one.
        async fn tx_create_invitation<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            i: &$crate::store::Invitation,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "UPDATE invitations SET voided_at = $1 WHERE organisation_id = $2 AND email_normalised = $3 \
                 AND used_at IS NULL AND voided_at IS NULL",
            )
            .bind(now)
            .bind(i.organisation_id.as_str())
            .bind(&i.email_normalised)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO invitations (id, organisation_id, method, email, email_normalised, given_name, family_name, \
                 birth_date, client_number, secret_digest, created_at, expires_at, used_at, voided_at, failures, account_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, 0, NULL)",
            )
            .bind(&i.id)
            .bind(i.organisation_id.as_str())
            .bind(i.method.as_str())
            .bind(&i.email)
            .bind(&i.email_normalised)
            .bind(&i.given_name)
            .bind(&i.family_name)
            .bind(&i.birth_date)
            .bind(&i.client_number)
            .bind(&i.secret_digest)
            .bind(i.created_at)
            .bind(i.expires_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "invitation"))?;
            Ok(())
        }

        /// Creates the account and marks the invitation used by it; false when the invitation
        /// was no longer open (the caller drops the transaction, so the account goes too).
        async fn tx_activate_with_account<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            invitation_id: &str,
            account: &$crate::store::Account,
            now: i64,
        ) -> $crate::store::StoreResult<bool> {
            // The account first (it may conflict), then the invitation that points at it.
            insert_account(tx, account).await?;
            let used = sqlx::query(
                "UPDATE invitations SET used_at = $1, account_id = $2 WHERE id = $3 AND used_at IS NULL \
                 AND voided_at IS NULL AND expires_at > $1 AND failures < $4",
            )
            .bind(now)
            .bind(account.id.as_str())
            .bind(invitation_id)
            .bind(i64::from($crate::store::MAX_INVITATION_FAILURES))
            .execute(&mut **tx)
            .await?;
            Ok(used.rows_affected() == 1)
        }

        fn policy_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::OrganisationPolicy> {
            use sqlx::Row;
            let method: String = r.try_get("activation_method")?;
            let rules: String = r.try_get("password_rules")?;
            let min_level: String = r.try_get("min_level")?;
            Ok($crate::store::OrganisationPolicy {
                organisation_id: $crate::domain::OrganisationId(r.try_get("organisation_id")?),
                activation_method: $crate::store::ActivationMethod::parse(&method)
                    .ok_or_else(|| $crate::store::StoreError::Corrupt(method.clone()))?,
                password_rules: serde_json::from_str(&rules).map_err(|e| $crate::store::StoreError::Corrupt(e.to_string()))?,
                secret_question: r.try_get("secret_question")?,
                mail_from_name: r.try_get("mail_from_name")?,
                mail_from_address: r.try_get("mail_from_address")?,
                portal_url: r.try_get("portal_url")?,
                invitation_ttl_secs: r.try_get("invitation_ttl_secs")?,
                min_level: $crate::auth::levels::Level::parse(&min_level)
                    .ok_or_else(|| $crate::store::StoreError::Corrupt(min_level.clone()))?,
                mailed_token: r.try_get("mailed_token")?,
                trusted_device_days: r.try_get("trusted_device_days")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn invitation_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Invitation> {
            use sqlx::Row;
            let method: String = r.try_get("method")?;
            Ok($crate::store::Invitation {
                id: r.try_get("id")?,
                organisation_id: $crate::domain::OrganisationId(r.try_get("organisation_id")?),
                method: $crate::store::ActivationMethod::parse(&method)
                    .ok_or_else(|| $crate::store::StoreError::Corrupt(method.clone()))?,
                email: r.try_get("email")?,
                email_normalised: r.try_get("email_normalised")?,
                given_name: r.try_get("given_name")?,
                family_name: r.try_get("family_name")?,
                birth_date: r.try_get("birth_date")?,
                client_number: r.try_get("client_number")?,
                secret_digest: r.try_get("secret_digest")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                used_at: r.try_get("used_at")?,
                voided_at: r.try_get("voided_at")?,
                failures: u32::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                account_id: r.try_get::<Option<String>, _>("account_id")?.map($crate::domain::AccountId),
            })
        }
    };
}
pub(crate) use impl_invitation_store;
