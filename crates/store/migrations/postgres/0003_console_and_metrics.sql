-- What the console and /metrics read (SQLite's 0003): a call's state as a column, operations by
-- call, participants by state, and the link from a redelivered notification to its original.
ALTER TABLE calls ADD COLUMN state TEXT NOT NULL DEFAULT '';
UPDATE calls SET state = COALESCE(body::jsonb->>'state', '');
CREATE INDEX calls_state ON calls (state);
CREATE INDEX operations_call ON operations (call_id);
CREATE INDEX participants_state ON participants (state);
ALTER TABLE outbox ADD COLUMN redelivery_of BIGINT;
