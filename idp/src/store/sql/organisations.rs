//! Queries for `OrganisationStore` and the organisation part of `Tx`.

macro_rules! impl_organisation_store {
    ($store:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::OrganisationStore for $store {
            async fn create_organisation(&self, org: &$crate::store::Organisation) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                tx_create_organisation(&mut tx, org).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn organisation_by_slug(
                &self,
                slug: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Organisation>> {
                let row = sqlx::query("SELECT id, slug, name, created_at FROM organisations WHERE slug = $1")
                    .bind(slug)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| organisation_from_row(&r)).transpose()
            }

            async fn list_organisations(&self) -> $crate::store::StoreResult<Vec<$crate::store::Organisation>> {
                let rows = sqlx::query("SELECT id, slug, name, created_at FROM organisations ORDER BY slug")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(organisation_from_row).collect()
            }
        }

        async fn tx_create_organisation<'c>(
            tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
            org: &$crate::store::Organisation,
        ) -> $crate::store::StoreResult<()> {
            sqlx::query("INSERT INTO organisations (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(org.id.as_str())
                .bind(&org.slug)
                .bind(&org.name)
                .bind(org.created_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| $crate::store::map_unique(e, "organisation"))?;
            Ok(())
        }

        fn organisation_from_row(r: &$row) -> $crate::store::StoreResult<$crate::store::Organisation> {
            use sqlx::Row;
            Ok($crate::store::Organisation {
                id: $crate::domain::OrganisationId(r.try_get("id")?),
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        }
    };
}
pub(crate) use impl_organisation_store;
