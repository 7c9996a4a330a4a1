-- What the console and /metrics read: a call's state as a column (active calls are counted,
-- not scanned out of JSON bodies), operations by call, participants by state, and the link
-- from a redelivered notification to the one it copies.

ALTER TABLE calls ADD COLUMN state TEXT NOT NULL DEFAULT '';
UPDATE calls SET state = COALESCE(json_extract(body, '$.state'), '');
CREATE INDEX calls_state ON calls (state);

CREATE INDEX operations_call ON operations (call_id);
CREATE INDEX participants_state ON participants (state);

ALTER TABLE outbox ADD COLUMN redelivery_of INTEGER;
