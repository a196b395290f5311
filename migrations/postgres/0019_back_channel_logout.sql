-- OpenID Connect Back-Channel Logout 1.0 (docs/architecture.md, "Back-channel logout"): a portal
-- may register where it hears that a session ended; the notices wait in an outbox, like mail,
-- queued in the transaction that ends the session (or revokes the grants), one per session and
-- portal, and are retried until the portal answers.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;

CREATE TABLE logout_outbox (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    uri              TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT,
    locked_until     BIGINT,
    sent_at          BIGINT,
    last_error       TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at) WHERE sent_at IS NULL;
