-- The audit log (NEN 7513; docs/audit.md). Append-only: rows are only ever inserted, and only
-- whole old periods are removed by retention. Each row holds the keyed hash (HMAC-SHA-256 under the
-- factor key) of its own content and of the row before it, so a changed, removed, inserted or
-- reordered row breaks the chain. `audit_head` is the chain's end, locked by every append so that
-- several nodes append one after another; `base_*` is where the chain starts after retention.
CREATE TABLE audit_events (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    time                INTEGER NOT NULL,
    event_type          TEXT NOT NULL,      -- e.g. signin.succeeded, factor.added (docs/audit.md)
    action              TEXT NOT NULL,      -- C R U D E (create, read, update, delete, execute)
    outcome             TEXT NOT NULL,      -- success | failure
    actor_id            TEXT,               -- the account (or operator) who acted
    actor_name          TEXT,               -- their display name at the time
    actor_role          TEXT NOT NULL,      -- client | operator | portal | system
    actor_is_requester  BOOLEAN NOT NULL,   -- true when the actor asked for this themself
    subject_id          TEXT,               -- the person acted for (today: the actor's own account)
    client_address      TEXT,
    object_type         TEXT,               -- account | factor | portal | grant | session | invitation | audit | ...
    object_id           TEXT,
    node                TEXT NOT NULL,
    organisation_id     TEXT,
    client_id           TEXT,               -- the portal involved
    detail              TEXT NOT NULL,      -- JSON object; never secrets
    prev_hash           TEXT NOT NULL,
    hash                TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_actor ON audit_events (actor_id, time);
CREATE INDEX audit_events_subject ON audit_events (subject_id, time);

CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    base_seq    INTEGER NOT NULL,
    base_hash   TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, base_seq, base_hash) VALUES (1, 0, '', 0, '');
