-- "Roster changed" marks (DESIGN.md, "Notifications"): an outbox row whose whole roster is
-- rendered when its delivery claims it, so a burst of joins costs one snapshot. A call has at
-- most one unrendered mark; the partial index finds it without scanning the call's queue.
ALTER TABLE outbox ADD COLUMN roster_mark INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_roster_mark ON outbox (call_id) WHERE roster_mark = 1;

-- The heads of the calls' queues and the next due time, read from this index alone: a call
-- with thousands of queued notifications (a 10,000-participant meeting) no longer makes every
-- claim read thousands of rows.
CREATE INDEX outbox_pending_heads ON outbox (call_id, sequence, next_attempt_at, lease_owner, lease_until)
    WHERE state = 'pending';
