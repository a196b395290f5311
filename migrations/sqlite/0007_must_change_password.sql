-- An account with a temporary password must choose its own at the next sign-in (journey B).
ALTER TABLE accounts ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
