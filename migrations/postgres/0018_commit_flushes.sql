-- PostgreSQL: one row per database connection (backend process id). A transaction that appends to
-- the audit chain commits without waiting for its WAL flush, so that it holds the chain's end only
-- while it works; before the IdP answers, it writes this row in a synchronous commit, which
-- flushes the WAL past that transaction (idp/src/store/sql/mod.rs, `Flush`; docs/audit.md
-- "Durability"). Unused on SQLite, kept so that both databases have the same tables.
CREATE TABLE commit_flushes (
    backend INTEGER PRIMARY KEY,
    flushes BIGINT NOT NULL
);
