//! The SQLite and PostgreSQL migrations describe one schema: the same migrations (version and
//! name), the same tables, the same columns, with compatible types and the same nullability.
//! The migration folders are read when the test runs, so a migration added to one database and
//! forgotten in the other fails here.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::Row;

use crate::helpers::fresh_postgres;

/// What the two databases must agree on about a column.
#[derive(Debug, PartialEq, Eq)]
struct Column {
    family: &'static str,
    not_null: bool,
}

/// Table → column → what it holds.
type Schema = BTreeMap<String, BTreeMap<String, Column>>;

/// sqlx's own bookkeeping, not part of our schema.
const SQLX_TABLE: &str = "_sqlx_migrations";

async fn migrator(database: &str) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(database);
    Migrator::new(dir.as_path()).await.unwrap_or_else(|e| panic!("migrations/{database}: {e}"))
}

/// The migrations of one folder as (version, description), in order.
fn listed(migrator: &Migrator) -> Vec<(i64, String)> {
    migrator.iter().map(|m| (m.version, m.description.to_string())).collect()
}

/// A SQLite declared type's family, by SQLite's affinity rules (§3.1 of "Datatypes In SQLite"),
/// with BOOLEAN (numeric affinity there) kept apart as PostgreSQL keeps it.
fn sqlite_family(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t == "BOOLEAN" || t == "BOOL" {
        "boolean"
    } else if t.contains("INT") {
        "integer"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") || t == "JSON" {
        "text"
    } else if t.contains("BLOB") || t.is_empty() {
        "bytes"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else {
        panic!("SQLite type {declared}: give it a family here")
    }
}

/// A PostgreSQL `information_schema.columns.data_type`'s family.
fn postgres_family(data_type: &str) -> &'static str {
    match data_type {
        "smallint" | "integer" | "bigint" => "integer",
        "text" | "character varying" | "character" | "json" | "jsonb" => "text",
        "boolean" => "boolean",
        "bytea" => "bytes",
        "real" | "double precision" => "real",
        other => panic!("PostgreSQL type {other}: give it a family here"),
    }
}

async fn sqlite_schema() -> (Vec<(i64, String)>, Schema) {
    let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
    let migrator = migrator("sqlite").await;
    migrator.run(&pool).await.expect("the SQLite migrations apply to an empty database");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> $1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for table in tables {
        let rows = sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&pool)
            .await
            .unwrap();
        let columns = rows.iter().map(|r| {
            let declared: String = r.get("type");
            // A primary key holds no NULL (SQLite allows one only for legacy reasons).
            let not_null = r.get::<i64, _>("notnull") != 0 || r.get::<i64, _>("pk") > 0;
            (r.get("name"), Column { family: sqlite_family(&declared), not_null })
        });
        schema.insert(table, columns.collect());
    }
    (listed(&migrator), schema)
}

async fn postgres_schema() -> (Vec<(i64, String)>, Schema) {
    let db = fresh_postgres().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let migrator = migrator("postgres").await;
    migrator.run(&pool).await.expect("the PostgreSQL migrations apply to an empty database");
    let rows = sqlx::query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                c.data_type::text AS data_type, c.is_nullable::text AS is_nullable \
         FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1",
    )
    .bind(SQLX_TABLE)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        let column = Column {
            family: postgres_family(r.get::<&str, _>("data_type")),
            not_null: r.get::<&str, _>("is_nullable") == "NO",
        };
        schema.entry(r.get("table_name")).or_default().insert(r.get("column_name"), column);
    }
    pool.close().await;
    (listed(&migrator), schema)
}

/// Every way the two schemas differ, one line each.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    for table in sqlite.keys().filter(|t| !postgres.contains_key(*t)) {
        found.push(format!("table {table} only in SQLite"));
    }
    for table in postgres.keys().filter(|t| !sqlite.contains_key(*t)) {
        found.push(format!("table {table} only in PostgreSQL"));
    }
    for (table, lite) in sqlite {
        let Some(pg) = postgres.get(table) else { continue };
        for (name, column) in lite {
            match pg.get(name) {
                None => found.push(format!("{table}.{name} only in SQLite")),
                Some(other) if other != column => {
                    found.push(format!("{table}.{name}: SQLite {column:?}, PostgreSQL {other:?}"))
                }
                Some(_) => {}
            }
        }
        for name in pg.keys().filter(|n| !lite.contains_key(*n)) {
            found.push(format!("{table}.{name} only in PostgreSQL"));
        }
    }
    found
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_define_the_same_tables_and_columns() {
    let ((lite_migrations, lite), (pg_migrations, pg)) = tokio::join!(sqlite_schema(), postgres_schema());
    assert_eq!(lite_migrations, pg_migrations, "the same migrations in migrations/sqlite and migrations/postgres");
    assert!(lite.contains_key("accounts") && lite["accounts"].len() > 3, "the schema was read: {lite:?}");
    let found = differences(&lite, &pg);
    assert!(found.is_empty(), "the schemas differ:\n{}", found.join("\n"));
}
