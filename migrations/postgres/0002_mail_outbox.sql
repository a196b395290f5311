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
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    locked_until     BIGINT,
    sent_at          BIGINT,
    last_error       TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);
