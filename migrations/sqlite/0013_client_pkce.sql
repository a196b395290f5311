-- Whether a client must send PKCE (RFC 7636) with every authorization request: `required` or
-- `optional`. New clients are registered `required` (RFC 9700 §2.1.1); the default here only
-- fills the rows of clients that existed before, so an upgrade keeps today's behaviour: public
-- clients required PKCE already, confidential portals could leave it out. The application
-- always writes the column. Numbered 0013: 0012 belongs to another change; migrations apply in
-- version order and a missing number is no error.
ALTER TABLE oauth_clients ADD COLUMN pkce TEXT NOT NULL DEFAULT 'optional' CHECK (pkce IN ('required', 'optional'));
UPDATE oauth_clients SET pkce = 'required' WHERE kind = 'public';
