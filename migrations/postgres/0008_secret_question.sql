-- Journey B's secret question: the question as typed, the answer only as an Argon2id hash of
-- its normalised form.
ALTER TABLE accounts ADD COLUMN secret_question TEXT;
ALTER TABLE accounts ADD COLUMN secret_answer_hash TEXT;
