-- Who acts for whom (docs/architecture.md, "Principal"): the party whose data a session, code or
-- grant reaches, stored as `<kind>:<id>` (today only `account:<id>`). Empty when the account that
-- signed in acts for itself, which is every row written before this migration. Refresh tokens
-- belong to a grant and carry its principal.
ALTER TABLE sessions ADD COLUMN acting_for TEXT;
ALTER TABLE authorization_codes ADD COLUMN acting_for TEXT;
ALTER TABLE grants ADD COLUMN acting_for TEXT;
