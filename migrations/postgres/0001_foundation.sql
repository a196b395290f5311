-- Foundation schema. Times are Unix seconds; secrets are stored only as SHA-256 digests.
CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE oauth_clients (
    id                        TEXT PRIMARY KEY,
    organisation_id           TEXT NOT NULL REFERENCES organisations(id),
    name                      TEXT NOT NULL,
    kind                      TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_digest             TEXT,
    redirect_uris             TEXT NOT NULL, -- JSON array
    post_logout_redirect_uris TEXT NOT NULL, -- JSON array
    scopes                    TEXT NOT NULL, -- space-separated
    grant_types               TEXT NOT NULL, -- JSON array
    id_token_alg              TEXT NOT NULL,
    created_at                BIGINT NOT NULL
);

CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,
    subject             TEXT NOT NULL UNIQUE,
    username            TEXT NOT NULL,
    username_normalised TEXT NOT NULL UNIQUE,
    email               TEXT,
    email_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    given_name          TEXT NOT NULL,
    family_name         TEXT NOT NULL,
    birth_date          TEXT,
    password_hash       TEXT,
    created_at          BIGINT NOT NULL,
    disabled            BOOLEAN NOT NULL DEFAULT FALSE
);

-- Subjects are never reused, even after an account is deleted.
CREATE TABLE retired_subjects (
    subject     TEXT PRIMARY KEY,
    retired_at  BIGINT NOT NULL
);

-- A care client (cliënt) at one organisation: the person whose dossier a portal shows.
-- Not an account: a client may have no account, or be represented by others' accounts.
CREATE TABLE care_clients (
    id               TEXT PRIMARY KEY,
    organisation_id  TEXT NOT NULL REFERENCES organisations(id),
    client_number    TEXT NOT NULL,
    given_name       TEXT NOT NULL,
    family_name      TEXT NOT NULL,
    birth_date       TEXT,
    account_id       TEXT REFERENCES accounts(id),
    created_at       BIGINT NOT NULL,
    UNIQUE (organisation_id, client_number)
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_jwk    TEXT NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    signs_from     BIGINT NOT NULL,
    publish_until  BIGINT
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    token_digest  TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    auth_time     BIGINT NOT NULL,
    amr           TEXT NOT NULL, -- JSON array
    acr           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    ended_at      BIGINT
);

CREATE TABLE authorization_codes (
    digest          TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES oauth_clients(id),
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    session_id      TEXT NOT NULL REFERENCES sessions(id),
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       BIGINT NOT NULL,
    acr             TEXT NOT NULL,
    amr             TEXT NOT NULL,
    grant_id        TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    redeemed_at     BIGINT
);

CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES oauth_clients(id),
    account_id  TEXT REFERENCES accounts(id),
    session_id  TEXT,
    scope       TEXT NOT NULL,
    auth_time   BIGINT,
    acr         TEXT,
    amr         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX grants_by_session ON grants (session_id);

CREATE TABLE refresh_tokens (
    digest      TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(id),
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);

CREATE TABLE revoked_access_tokens (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE change_generations (
    name        TEXT PRIMARY KEY,
    generation  BIGINT NOT NULL
);
INSERT INTO change_generations (name, generation) VALUES ('clients', 0), ('keys', 0);
