-- Second factors (docs/factors.md). One row per enrolled factor: an authenticator app (TOTP),
-- a phone for SMS or voice codes, or a passkey. The mailed login token uses the account's
-- address and needs no row; recovery codes and trusted devices have their own tables.
CREATE TABLE factors (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    kind            TEXT NOT NULL,      -- totp | sms | voice | passkey
    label           TEXT NOT NULL,
    secret          TEXT,               -- TOTP: the secret, encrypted (JWE dir/A256GCM); passkey: the credential JSON
    phone           TEXT,               -- sms | voice: E.164
    credential_id   TEXT,               -- passkey: base64url credential id
    last_used_step  INTEGER,            -- TOTP: the highest time step accepted (a code works once)
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,            -- NULL while enrolment is not yet confirmed
    last_used_at    INTEGER
);
CREATE INDEX factors_account ON factors (account_id);
CREATE UNIQUE INDEX factors_credential ON factors (credential_id) WHERE credential_id IS NOT NULL;

-- Ten single-use codes per account, kept only as keyed digests (HMAC-SHA-256).
CREATE TABLE recovery_codes (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    digest      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (account_id, digest)
);

-- "Vertrouw deze computer": a cookie whose digest names a row; it remembers the second factor
-- that was proved when the browser was trusted, and when.
CREATE TABLE trusted_devices (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    token_digest    TEXT NOT NULL UNIQUE,
    label           TEXT NOT NULL,
    factor          TEXT NOT NULL,      -- JSON: the factor use it remembers
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX trusted_devices_account ON trusted_devices (account_id);

-- Which factors made the session, with their channel and time (JSON list).
ALTER TABLE sessions ADD COLUMN factors TEXT NOT NULL DEFAULT '[]';
-- The password was last set through a mailed reset link: a mailed token then adds no channel.
ALTER TABLE accounts ADD COLUMN password_via_mail BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE organisation_policies ADD COLUMN min_level TEXT NOT NULL DEFAULT 'password';
ALTER TABLE organisation_policies ADD COLUMN mailed_token BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organisation_policies ADD COLUMN trusted_device_days INTEGER NOT NULL DEFAULT 7;
