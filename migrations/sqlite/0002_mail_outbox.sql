-- Mail leaves through this table: written in the same transaction as the change that causes it,
-- delivered (and retried) by the sender. Bodies are blanked once sent: they may hold codes.
CREATE TABLE mail_outbox (
    id               TEXT PRIMARY KEY,
    organisation_id  TEXT REFERENCES organisations(id),
    recipient        TEXT NOT NULL,
    from_name        TEXT NOT NULL,
    from_address     TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    locked_until     INTEGER,
    sent_at          INTEGER,
    last_error       TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);
