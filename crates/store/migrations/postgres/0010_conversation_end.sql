-- When a conversation ended (domain milliseconds), so that ended conversations and everything
-- recorded for their calls can be removed after the retention period. Conversations that ended
-- before this column existed count from their creation, the last time known of them: they are
-- removed a retention period after they began.
ALTER TABLE conversations ADD COLUMN ended_at BIGINT;
UPDATE conversations SET ended_at = (body::jsonb ->> 'createdAt')::BIGINT WHERE ended;
CREATE INDEX conversations_ended ON conversations (ended_at) WHERE ended;
