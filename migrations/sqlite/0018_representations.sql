-- Who may act for whom (docs/representation.md). A care client (the person whose dossier it is,
-- per organisation) gets an OIDC subject of its own: the `sub` of access tokens that reach its
-- data, whoever signs in for it. No code wrote care_clients before this migration.
ALTER TABLE care_clients ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX care_clients_by_subject ON care_clients (subject);
-- A person has at most one own record per organisation.
CREATE UNIQUE INDEX care_clients_one_account_id ON care_clients (organisation_id, account_id)
    WHERE account_id IS NOT NULL;
CREATE INDEX care_clients_by_account ON care_clients (account_id);

-- A representation: an account may act for a care client, in some sections, from `granted_at`
-- until it is revoked or its end date passes. At most one live (invited or active) per account
-- and client; the history of every change is in representation_history.
CREATE TABLE representations (
    id              TEXT PRIMARY KEY,
    care_client_id  TEXT NOT NULL REFERENCES care_clients(id),
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    kind            TEXT NOT NULL,
    role            TEXT NOT NULL,
    sections        TEXT NOT NULL,
    status          TEXT NOT NULL,
    basis           TEXT NOT NULL,
    granted_by      TEXT NOT NULL,
    granted_at      INTEGER NOT NULL,
    ends_at         INTEGER,
    ended_at        INTEGER,
    -- A minor of 12 to 16 consented to their parent's (or guardian's) access to the dossier (WGBO).
    minor_consent_at INTEGER,
    version         INTEGER NOT NULL
);
CREATE UNIQUE INDEX representations_live ON representations (account_id, care_client_id)
    WHERE status IN ('invited', 'active');
CREATE INDEX representations_by_client ON representations (care_client_id);

CREATE TABLE representation_history (
    representation_id  TEXT NOT NULL REFERENCES representations(id),
    version            INTEGER NOT NULL,
    changed_at         INTEGER NOT NULL,
    changed_by         TEXT NOT NULL,
    change             TEXT NOT NULL,
    status             TEXT NOT NULL,
    sections           TEXT NOT NULL,
    ends_at            INTEGER,
    PRIMARY KEY (representation_id, version)
);

-- A representative's grants for one client are found and revoked together. Partial: a grant of
-- someone acting for themself (nearly every one) costs the code exchange no index entry.
CREATE INDEX grants_acting_for ON grants (account_id, acting_for) WHERE acting_for IS NOT NULL;
