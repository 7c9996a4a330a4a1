-- Endpoint legs (agents, SIP): the node that owns a live leg, each node's inbox of commands
-- for its legs (written in the transaction of the change that causes them, like the outbox),
-- and the agent WebSocket sessions connected to each node.

ALTER TABLE participants ADD COLUMN node_id TEXT;
CREATE INDEX participants_node ON participants (node_id, state) WHERE node_id IS NOT NULL;

CREATE TABLE leg_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    command TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX leg_commands_node ON leg_commands (node_id, id);

CREATE TABLE agent_sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL COLLATE NOCASE,
    node_id TEXT NOT NULL,
    connected_at INTEGER NOT NULL
);
CREATE INDEX agent_sessions_user ON agent_sessions (user_id);
CREATE INDEX agent_sessions_node ON agent_sessions (node_id);
