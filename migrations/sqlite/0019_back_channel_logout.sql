-- OpenID Connect Back-Channel Logout 1.0 (docs/architecture.md, "Back-channel logout"): a portal
-- may register where it hears that a session ended; the notices wait in an outbox, like mail,
-- queued in the transaction that ends the session (or revokes the grants), at most one waiting per
-- session and portal, and are retried until the portal answers.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;

CREATE TABLE logout_outbox (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    uri              TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    locked_until     INTEGER,
    sent_at          INTEGER,
    last_error       TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at) WHERE sent_at IS NULL;
-- One notice waiting per session and portal; once sent (or given up), a later end queues anew.
CREATE UNIQUE INDEX logout_outbox_waiting ON logout_outbox (session_id, client_id)
    WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL;

-- The session id the portal saw in its ID token (`sid`), kept when a new sign-in of the same
-- person moves the grant to the new session: the logout names the sid the portal knows.
ALTER TABLE grants ADD COLUMN issued_sid TEXT;
