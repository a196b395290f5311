-- "Activiteit" reads a person's newest records (actor or subject, newest first by seq): these
-- indexes serve it without scanning years of the log.
CREATE INDEX audit_events_actor_seq ON audit_events (actor_id, seq);
CREATE INDEX audit_events_subject_seq ON audit_events (subject_id, seq);
