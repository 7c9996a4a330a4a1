-- Two outbox indexes that every notification paid for on insert and on delivery, and no query
-- needs: `outbox_pending` is a prefix of `outbox_pending_heads` with the same condition, and
-- the pending counts `outbox_state` served read that partial index as well.
DROP INDEX outbox_pending;
DROP INDEX outbox_state;
