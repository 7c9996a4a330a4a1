-- Delivery leases: a node claims the head of a call's queue by writing its id and a deadline
-- here, posts with no transaction open, and records the attempt only while the lease is its
-- own. A row is born leased to the node that enqueued it (for a short grace), so the node
-- that holds a call's notifications back until its HTTP response is written delivers them.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
CREATE INDEX outbox_state ON outbox (state, id);
