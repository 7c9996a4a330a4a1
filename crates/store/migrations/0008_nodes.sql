-- Node liveness: every node writes `seen_at` (wall-clock milliseconds) every few seconds. A node
-- silent past the timeout is taken over by another: its live legs ended, its leg inbox dropped.
CREATE TABLE nodes (node_id TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
