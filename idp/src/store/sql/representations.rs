//! Queries for `RepresentationStore` and the representation part of `Tx`: care clients, who may
//! act for them, and the history of every change (docs/representation.md).

macro_rules! impl_representation_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::RepresentationStore for $store {
            async fn care_client_by_id(
                &self,
                id: &$crate::domain::CareClientId,
            ) -> $crate::store::StoreResult<Option<$crate::store::CareClient>> {
                let row = sqlx::query("SELECT * FROM care_clients WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| care_client_from_row(&r)).transpose()
            }

            async fn care_client_by_number(
                &self,
                org: &$crate::domain::OrganisationId,
                number: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::CareClient>> {
                let row = sqlx::query("SELECT * FROM care_clients WHERE organisation_id = $1 AND client_number = $2")
                    .bind(org.as_str())
                    .bind(number)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| care_client_from_row(&r)).transpose()
            }

            async fn choices_at(
                &self,
                account: &$crate::domain::AccountId,
                org: &$crate::domain::OrganisationId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Choice>> {
                // The account's own record at the organisation, then the clients it has a live
                // representation for there (whether still in force is for the caller's clock).
                let rows = sqlx::query(
                    "SELECT c.*, r.id AS r_id, r.care_client_id AS r_care_client_id, r.account_id AS r_account_id, \
                            r.kind AS r_kind, r.role AS r_role, r.sections AS r_sections, r.status AS r_status, \
                            r.basis AS r_basis, r.granted_by AS r_granted_by, r.granted_at AS r_granted_at, \
                            r.ends_at AS r_ends_at, r.ended_at AS r_ended_at, r.version AS r_version, \
                            r.minor_consent_at AS r_minor_consent_at \
                     FROM care_clients c LEFT JOIN representations r \
                       ON r.care_client_id = c.id AND r.account_id = $1 AND r.status = 'active' \
                     WHERE c.organisation_id = $2 AND (c.account_id = $1 OR r.id IS NOT NULL) \
                     ORDER BY CASE WHEN c.account_id = $1 THEN 0 ELSE 1 END, c.family_name, c.given_name, c.id",
                )
                .bind(account.as_str())
                .bind(org.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        use sqlx::Row;
                        let client = care_client_from_row(r)?;
                        let own = client.account_id.as_ref() == Some(account);
                        let representation = match r.try_get::<Option<String>, _>("r_id")? {
                            Some(_) => Some(representation_from_row(r, "r_")?),
                            None => None,
                        };
                        Ok($crate::store::Choice { client, own, representation })
                    })
                    .collect()
            }

            async fn live_representation(
                &self,
                account: &$crate::domain::AccountId,
                client: &$crate::domain::CareClientId,
            ) -> $crate::store::StoreResult<Option<$crate::store::Representation>> {
                let row = sqlx::query(
                    "SELECT * FROM representations WHERE account_id = $1 AND care_client_id = $2 \
                     AND status IN ('invited', 'active')",
                )
                .bind(account.as_str())
                .bind(client.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| representation_from_row(&r, "")).transpose()
            }

            async fn representation_by_id(
                &self,
                id: &$crate::domain::RepresentationId,
            ) -> $crate::store::StoreResult<Option<$crate::store::Representation>> {
                let row = sqlx::query("SELECT * FROM representations WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| representation_from_row(&r, "")).transpose()
            }

            async fn representations_for_client(
                &self,
                client: &$crate::domain::CareClientId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Representation>> {
                let rows =
                    sqlx::query("SELECT * FROM representations WHERE care_client_id = $1 ORDER BY granted_at, id")
                        .bind(client.as_str())
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter().map(|r| representation_from_row(r, "")).collect()
            }

            async fn care_clients_of_account(
                &self,
                account: &$crate::domain::AccountId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::CareClient>> {
                let rows = sqlx::query("SELECT * FROM care_clients WHERE account_id = $1 ORDER BY organisation_id, id")
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(care_client_from_row).collect()
            }

            async fn representations_of_account(
                &self,
                account: &$crate::domain::AccountId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Representation>> {
                let rows = sqlx::query(
                    "SELECT * FROM representations WHERE account_id = $1 AND status IN ('invited', 'active') \
                     ORDER BY granted_at, id",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| representation_from_row(r, "")).collect()
            }

            async fn parental_representations_born_by(
                &self,
                born_by: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Representation>> {
                let rows = sqlx::query(
                    "SELECT r.* FROM representations r JOIN care_clients c ON c.id = r.care_client_id \
                     WHERE r.status IN ('invited', 'active') AND r.kind = 'legal_representative' \
                       AND r.role IN ('parent', 'guardian') AND c.birth_date IS NOT NULL AND c.birth_date <= $1 \
                     ORDER BY r.id",
                )
                .bind(born_by)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| representation_from_row(r, "")).collect()
            }

            async fn representation_history(
                &self,
                id: &$crate::domain::RepresentationId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::RepresentationChange>> {
                let rows = sqlx::query(
                    "SELECT * FROM representation_history WHERE representation_id = $1 ORDER BY version",
                )
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        use sqlx::Row;
                        Ok($crate::store::RepresentationChange {
                            representation_id: $crate::domain::RepresentationId(r.try_get("representation_id")?),
                            version: r.try_get("version")?,
                            changed_at: r.try_get("changed_at")?,
                            changed_by: r.try_get("changed_by")?,
                            change: r.try_get("change")?,
                            status: $crate::store::sql::spelled::<$crate::domain::representation::Status>(r.try_get("status")?)?,
                            sections: $crate::store::sql::sections(r.try_get("sections")?)?,
                            ends_at: r.try_get("ends_at")?,
                        })
                    })
                    .collect()
            }
        }

        async fn tx_record_minor_consent<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &$crate::domain::RepresentationId,
            by: &str,
            now: i64,
        ) -> $crate::store::StoreResult<Option<$crate::store::Representation>> {
            let row = sqlx::query(
                "UPDATE representations SET minor_consent_at = $1, version = version + 1 \
                 WHERE id = $2 AND status = 'active' AND minor_consent_at IS NULL RETURNING *",
            )
            .bind(now)
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let changed = representation_from_row(&row, "")?;
            insert_representation_change(tx, &changed, by, "minor_consented", now).await?;
            Ok(Some(changed))
        }

        async fn tx_create_care_client<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            c: &$crate::store::CareClient,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO care_clients (id, organisation_id, client_number, subject, given_name, family_name, \
                 birth_date, account_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(c.id.as_str())
            .bind(c.organisation_id.as_str())
            .bind(&c.client_number)
            .bind(c.subject.as_str())
            .bind(&c.given_name)
            .bind(&c.family_name)
            .bind(&c.birth_date)
            .bind(c.account_id.as_ref().map(|a| a.as_str()))
            .bind(c.created_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                let columns = [("client_number", "client_number"), ("account_id", "own_record")];
                $crate::store::map_unique_among(e, &columns, "care_client")
            })?;
            Ok(())
        }

        async fn tx_create_representation<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            r: &$crate::store::Representation,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO representations (id, care_client_id, account_id, kind, role, sections, status, basis, \
                 granted_by, granted_at, ends_at, ended_at, version, minor_consent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(r.id.as_str())
            .bind(r.care_client_id.as_str())
            .bind(r.account_id.as_str())
            .bind(r.kind.as_str())
            .bind(r.role.as_str())
            .bind(r.sections.to_string())
            .bind(r.status.as_str())
            .bind(&r.basis)
            .bind(&r.granted_by)
            .bind(r.granted_at)
            .bind(r.ends_at)
            .bind(r.ended_at)
            .bind(r.version)
            .bind(r.minor_consent_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::store::map_unique(e, "representation"))?;
            insert_representation_change(tx, r, &r.granted_by, "granted", r.granted_at).await
        }

        async fn insert_representation_change<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            r: &$crate::store::Representation,
            by: &str,
            change: &str,
            now: i64,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO representation_history (representation_id, version, changed_at, changed_by, change, \
                 status, sections, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(r.id.as_str())
            .bind(r.version)
            .bind(now)
            .bind(by)
            .bind(change)
            .bind(r.status.as_str())
            .bind(r.sections.to_string())
            .bind(r.ends_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Ends a live representation, keeps the change in its history and revokes the grants its
        /// account holds for the client (their refresh tokens fail, their access tokens are
        /// inactive at `/introspect` and `/userinfo`). `None` when it was not live.
        async fn tx_end_representation<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            id: &$crate::domain::RepresentationId,
            status: $crate::domain::representation::Status,
            change: &str,
            by: &str,
            now: i64,
        ) -> $crate::store::StoreResult<Option<$crate::store::Representation>> {
            let row = sqlx::query(
                "UPDATE representations SET status = $1, ended_at = $2, version = version + 1 \
                 WHERE id = $3 AND status IN ('invited', 'active') RETURNING *",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let ended = representation_from_row(&row, "")?;
            insert_representation_change(tx, &ended, by, change, now).await?;
            let party = $crate::domain::Party::CareClient(ended.care_client_id.clone());
            let whom = $crate::store::sql::logouts::LogoutsFor::Representative {
                account: ended.account_id.as_str(),
                party: party.to_stored(),
            };
            queue_logouts(tx, whom, now).await?;
            let revoked = sqlx::query(
                "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND acting_for = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(ended.account_id.as_str())
            .bind(party.to_stored())
            .execute(&mut **tx)
            .await?;
            if revoked.rows_affected() > 0 {
                bump_revocations(tx).await?;
            }
            Ok(Some(ended))
        }

        fn care_client_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::CareClient> {
            use sqlx::Row;
            let subject: Option<String> = r.try_get("subject")?;
            Ok($crate::store::CareClient {
                id: $crate::domain::CareClientId(r.try_get("id")?),
                organisation_id: $crate::domain::OrganisationId(r.try_get("organisation_id")?),
                client_number: r.try_get("client_number")?,
                subject: $crate::domain::Subject(
                    subject.ok_or_else(|| $crate::store::StoreError::Corrupt("care client without subject".into()))?,
                ),
                given_name: r.try_get("given_name")?,
                family_name: r.try_get("family_name")?,
                birth_date: r.try_get("birth_date")?,
                account_id: r.try_get::<Option<String>, _>("account_id")?.map($crate::domain::AccountId),
                created_at: r.try_get("created_at")?,
            })
        }

        /// A representation from columns named with `prefix` (`r_` where joined to its client).
        fn representation_from_row(
            r: &$row,
            prefix: &str,
        ) -> $crate::store::StoreResult<$crate::store::Representation> {
            use sqlx::Row;
            let col = |name: &str| format!("{prefix}{name}");
            Ok($crate::store::Representation {
                id: $crate::domain::RepresentationId(r.try_get(col("id").as_str())?),
                care_client_id: $crate::domain::CareClientId(r.try_get(col("care_client_id").as_str())?),
                account_id: $crate::domain::AccountId(r.try_get(col("account_id").as_str())?),
                kind: $crate::store::sql::spelled::<$crate::domain::representation::Kind>(r.try_get(col("kind").as_str())?)?,
                role: $crate::store::sql::spelled::<$crate::domain::representation::Role>(r.try_get(col("role").as_str())?)?,
                sections: $crate::store::sql::sections(r.try_get(col("sections").as_str())?)?,
                status: $crate::store::sql::spelled::<$crate::domain::representation::Status>(r.try_get(col("status").as_str())?)?,
                basis: r.try_get(col("basis").as_str())?,
                granted_by: r.try_get(col("granted_by").as_str())?,
                granted_at: r.try_get(col("granted_at").as_str())?,
                ends_at: r.try_get(col("ends_at").as_str())?,
                ended_at: r.try_get(col("ended_at").as_str())?,
                minor_consent_at: r.try_get(col("minor_consent_at").as_str())?,
                version: r.try_get(col("version").as_str())?,
            })
        }
    };
}
pub(crate) use impl_representation_store;
