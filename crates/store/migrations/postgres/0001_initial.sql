-- Switchboard's first PostgreSQL schema: the same tables as SQLite's 0001 (records as JSON
-- bodies beside the columns queries filter on). Never edit a migration after it has landed.

CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE tenants (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE applications (client_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE application_instances (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX application_instances_app ON application_instances (app_id);
-- User ids compare case-insensitively (SQLite's COLLATE NOCASE).
CREATE TABLE users (id TEXT NOT NULL, body TEXT NOT NULL);
CREATE UNIQUE INDEX users_id ON users (lower(id));
CREATE TABLE phone_numbers (number TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL UNIQUE,
    join_meeting_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    chat_thread_id TEXT,
    meeting_id TEXT,
    ended BOOLEAN NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX conversations_thread ON conversations (chat_thread_id) WHERE NOT ended;
CREATE INDEX conversations_meeting ON conversations (meeting_id) WHERE NOT ended;

CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX calls_conversation ON calls (conversation_id);

CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
-- An identity is unique among a conversation's active participants.
CREATE UNIQUE INDEX participants_active_identity
    ON participants (conversation_id, identity_key) WHERE state <> 'removed';
CREATE INDEX participants_roster ON participants (conversation_id, state, id);

CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE timers (
    id BIGSERIAL PRIMARY KEY,
    due_at BIGINT NOT NULL,
    participant_id TEXT,
    action TEXT NOT NULL
);
CREATE INDEX timers_due ON timers (due_at, id);
CREATE INDEX timers_participant ON timers (participant_id);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    call_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    callback_uri TEXT NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    delivered_at BIGINT,
    UNIQUE (call_id, sequence)
);
CREATE INDEX outbox_pending ON outbox (call_id, sequence) WHERE state = 'pending';

CREATE TABLE delivery_attempts (
    outbox_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    error TEXT,
    latency_ms BIGINT NOT NULL,
    PRIMARY KEY (outbox_id, attempt)
);
