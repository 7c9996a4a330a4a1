-- The live legs (agents, SIP) of a conversation, found without reading its whole roster: every
-- roster change tells them, and a 10,000-participant meeting usually has none.
CREATE INDEX participants_live_legs ON participants (conversation_id, id) WHERE node_id IS NOT NULL;
