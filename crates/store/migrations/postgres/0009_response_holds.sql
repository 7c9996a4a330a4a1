-- A node that answers a request creating a call or an operation holds the call's notifications
-- back until its HTTP response is written. A notification another node enqueues to that call
-- meanwhile is born leased to the holding node (`held_by`), at the latest until `held_until`
-- (domain milliseconds), so it is delivered after the response. SQLite serves one node and needs
-- none of this.
ALTER TABLE calls ADD COLUMN held_by TEXT, ADD COLUMN held_until BIGINT;
