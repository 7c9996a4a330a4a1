-- Delivery leases (SQLite's 0002): the node that claimed a row and until when it holds it.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
CREATE INDEX outbox_state ON outbox (state, id);
