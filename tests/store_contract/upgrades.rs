//! The store contract across releases: databases written by an older release, opened by this one.

use idp::domain::AccountId;
use idp::store::{self, Store, StoreError};

use super::*;

// ---------------------------------------------------------------------------------------------
// Upgrades: a database written by an older release, then opened by this one.

/// Migrations of `backend` up to `before` (excluded), read from the files the store embeds.
async fn migrations_before(backend: &str, before: i64) -> sqlx::migrate::Migrator {
    let dir = format!("{}/../migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(&dir)).await.expect("migrations");
    let older: Vec<_> = migrator.migrations.iter().filter(|m| m.version < before).cloned().collect();
    migrator.migrations = older.into();
    migrator
}

/// A confidential portal and a public app as registered before 0013 (no `pkce` column).
const CLIENTS_BEFORE_PKCE: [&str; 3] = [
    "INSERT INTO organisations (id, slug, name, created_at) VALUES ('org-oud', 'oud', 'Oud', 1)",
    "INSERT INTO oauth_clients (id, organisation_id, name, kind, secret_digest, redirect_uris, \
     post_logout_redirect_uris, scopes, grant_types, id_token_alg, created_at) VALUES ('portaal-oud', 'org-oud', \
     'Portaal', 'confidential', 'digest', '[\"https://oud.example/cb\"]', '[]', 'openid', \
     '[\"authorization_code\",\"refresh_token\"]', 'ES256', 1)",
    "INSERT INTO oauth_clients (id, organisation_id, name, kind, secret_digest, redirect_uris, \
     post_logout_redirect_uris, scopes, grant_types, id_token_alg, created_at) VALUES ('app-oud', 'org-oud', \
     'App', 'public', NULL, '[\"https://app.example/cb\"]', '[]', 'openid', '[\"authorization_code\"]', 'ES256', 2)",
];

/// An upgrade breaks no portal: confidential clients may still leave PKCE out, public ones
/// still must send it.
async fn pkce_rule_survives_the_upgrade(store: &dyn Store) {
    let portal = store.client_by_id(&ClientId("portaal-oud".into())).await.unwrap().expect("old portal");
    assert_eq!((portal.pkce, portal.requires_pkce()), (PkcePolicy::Optional, false));
    let app = store.client_by_id(&ClientId("app-oud".into())).await.unwrap().expect("old app");
    assert_eq!((app.pkce, app.requires_pkce()), (PkcePolicy::Required, true));
}

mod upgrade {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn sqlite_clients_keep_their_pkce_rule() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrations_before("sqlite", 13).await.run(&pool).await.expect("older migrations");
        for statement in CLIENTS_BEFORE_PKCE {
            sqlx::query(statement).execute(&pool).await.expect(statement);
        }
        pool.close().await;
        let store = store::connect(&url, 2).await.expect("the upgrade applies");
        pkce_rule_survives_the_upgrade(store.as_ref()).await;
    }

    #[tokio::test]
    async fn postgres_clients_keep_their_pkce_rule() {
        let db = crate::helpers::fresh_postgres().await;
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrations_before("postgres", 13).await.run(&pool).await.expect("older migrations");
        for statement in CLIENTS_BEFORE_PKCE {
            sqlx::query(statement).execute(&pool).await.expect(statement);
        }
        pool.close().await;
        let store = store::connect(&db.url, 2).await.expect("the upgrade applies");
        pkce_rule_survives_the_upgrade(store.as_ref()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The start-up backfill of username skeletons (migration 0012). It needs the database itself,
// to make rows as they were before the migration.

/// Runs `sql` on the database at `url`, outside the store.
async fn raw(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
}

async fn stored_skeletons(url: &str) -> Vec<(String, Option<String>)> {
    use sqlx::Connection;
    let sql = "SELECT id, username_skeleton FROM accounts ORDER BY id";
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    }
}

async fn skeletons_are_filled_in_at_start_up(url: &str) {
    use idp::domain::Username;
    let store = store::connect(url, 2).await.unwrap();
    for (id, name) in [("acc-jan", "Jan Jansen"), ("acc-kees", "Kees"), ("acc-piet", "Piet de Vries")] {
        store.create_account(&account(id, name)).await.unwrap();
    }
    drop(store);
    // As before migration 0012: no skeletons, and a look-alike of Jan (Cyrillic а) made back then.
    raw(
        url,
        "UPDATE accounts SET username_skeleton = NULL; \
         UPDATE accounts SET username = 'J\u{430}n Jansen', username_normalised = 'j\u{430}n jansen' \
         WHERE id = 'acc-piet';",
    )
    .await;
    // Every node runs the backfill at start-up; twice changes nothing.
    for _ in 0..2 {
        let store = store::connect(url, 2).await.unwrap();
        drop(store);
        assert_eq!(
            stored_skeletons(url).await,
            vec![
                ("acc-jan".to_string(), Some(Username::skeleton_of("Jan Jansen"))),
                ("acc-kees".to_string(), Some(Username::skeleton_of("Kees"))),
                // The younger of the two look-alikes keeps none, and still loads.
                ("acc-piet".to_string(), None),
            ]
        );
    }
    let store = store::connect(url, 2).await.unwrap();
    let piet = store.account_by_id(&AccountId("acc-piet".into())).await.unwrap().unwrap();
    assert_eq!(piet.username_skeleton, Username::skeleton_of("Jan Jansen"));
    let err = store.create_account(&account("acc-kees-2", "K\u{435}\u{435}s")).await.expect_err("look-alike of Kees");
    assert!(matches!(err, StoreError::Conflict(store::USERNAME_LOOKALIKE)), "{err:?}");
}

mod skeleton_backfill {
    #[tokio::test]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("backfill.db").display());
        super::skeletons_are_filled_in_at_start_up(&url).await;
    }

    #[tokio::test]
    async fn postgres() {
        let db = crate::helpers::fresh_postgres().await;
        super::skeletons_are_filled_in_at_start_up(&db.url).await;
    }
}
