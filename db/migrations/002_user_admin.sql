-- User administration: search and sort indexes, API keys.

-- Substring search over username, display name and email (`q`), served by one trigram index.
-- The same expression is used by the query in server/src/services/users.ts.
CREATE INDEX users_search_trgm_idx ON users
  USING gin ((lower(username::text || ' ' || display_name || ' ' || email::text)) gin_trgm_ops);

-- Keyset paging for each sort order; id breaks ties.
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_last_login_at_idx ON users ((coalesce(last_login_at, '-infinity')), id);
CREATE INDEX users_role_status_idx ON users (role, status);

-- API keys: the key is shown once; only its SHA-256 is kept. user_id is null for system keys.
CREATE TABLE api_keys (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  prefix       text NOT NULL,
  hash         text NOT NULL UNIQUE,
  created_by   uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  expires_at   timestamptz
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
