-- Addresses are matched in a form computed by the application (Unicode-aware lower case), because
-- SQLite's lower() folds ASCII only. Existing rows get the database's approximation.
ALTER TABLE accounts ADD COLUMN email_normalised TEXT;
UPDATE accounts SET email_normalised = lower(email) WHERE email IS NOT NULL;
CREATE INDEX accounts_by_email ON accounts (email_normalised);
