-- Per-organisation policy (journeys A and B differ only here) and invitations to activate an account.
CREATE TABLE organisation_policies (
    organisation_id      TEXT PRIMARY KEY REFERENCES organisations(id),
    activation_method    TEXT NOT NULL,
    password_rules       TEXT NOT NULL, -- JSON, see auth::password_rules
    secret_question      BOOLEAN NOT NULL,
    mail_from_name       TEXT,
    mail_from_address    TEXT,
    portal_url           TEXT,
    invitation_ttl_secs  INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE invitations (
    id                TEXT PRIMARY KEY,
    organisation_id   TEXT NOT NULL REFERENCES organisations(id),
    method            TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_normalised  TEXT NOT NULL,
    given_name        TEXT NOT NULL,
    family_name       TEXT NOT NULL,
    birth_date        TEXT,
    client_number     TEXT,
    secret_digest     TEXT NOT NULL UNIQUE, -- the validation code (journey A) or link token (journey B)
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER,
    voided_at         INTEGER,
    failures          INTEGER NOT NULL DEFAULT 0,
    account_id        TEXT REFERENCES accounts(id)
);
CREATE INDEX invitations_by_email ON invitations (email_normalised);
