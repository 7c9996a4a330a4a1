-- Endpoint legs (SQLite's 0004): the owning node of a live leg, each node's leg command
-- inbox, and the agent WebSocket sessions of each node. User ids compare case-insensitively,
-- as the users table does.
ALTER TABLE participants ADD COLUMN node_id TEXT;
CREATE INDEX participants_node ON participants (node_id, state) WHERE node_id IS NOT NULL;
CREATE TABLE leg_commands (
    id BIGSERIAL PRIMARY KEY,
    node_id TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    command TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX leg_commands_node ON leg_commands (node_id, id);
CREATE TABLE agent_sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    connected_at BIGINT NOT NULL
);
CREATE INDEX agent_sessions_user ON agent_sessions (lower(user_id));
CREATE INDEX agent_sessions_node ON agent_sessions (node_id);
