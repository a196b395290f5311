-- Every revocation bumps this counter, so nodes can trust cached token checks until it moves.
INSERT INTO change_generations (name, generation) VALUES ('revocations', 0);
