-- User ids compare case-insensitively in ASCII only, as SQLite's COLLATE NOCASE and the engine
-- compare them. lower() also folds other letters under the database's locale ('Ä' = 'ä' with
-- C.UTF-8), so an id could find a user on PostgreSQL that SQLite does not have. Every pair of
-- ids equal under the new key was equal under the old one, so the unique index cannot fail.
CREATE FUNCTION ascii_lower(t TEXT) RETURNS TEXT LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') $$;
DROP INDEX users_id;
CREATE UNIQUE INDEX users_id ON users (ascii_lower(id));
DROP INDEX agent_sessions_user;
CREATE INDEX agent_sessions_user ON agent_sessions (ascii_lower(user_id));
