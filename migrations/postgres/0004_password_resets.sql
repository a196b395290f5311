-- "Wachtwoord vergeten?": single-use links, stored as digests, valid for at most an hour.
CREATE TABLE password_resets (
    digest      TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX sessions_by_account ON sessions (account_id);
