-- The confusable skeleton of each username (Unicode TS #39 §4, `domain::Username::skeleton_of`),
-- so that a name that looks like a taken one is refused as surely as a taken one. Computing it
-- needs Unicode data the database lacks: existing rows are filled in by the application at
-- start-up (`backfill_username_skeletons`), and until then the column may be NULL, which the
-- unique index allows any number of times.
ALTER TABLE accounts ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX accounts_username_skeleton_key ON accounts (username_skeleton);
