-- Roster core schema: accounts, sessions, the audit log / live feed, and login throttling.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username           citext NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,50}$'),
  display_name       text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
  email              citext NOT NULL UNIQUE CHECK (char_length(email) <= 254),
  role               text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'moderator', 'user')),
  status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  password_hash      text NOT NULL,
  can_share_publicly boolean NOT NULL DEFAULT false,
  version            integer NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  last_login_at      timestamptz
);

-- id is the hex SHA-256 of the token held in the cookie; the token itself is never stored.
CREATE TABLE sessions (
  id           text PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  ip           text,
  user_agent   text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- The audit log and the live feed in one table: id is the sequence number clients resume from.
-- Labels are snapshots so the log stays readable after the actor or target is deleted.
CREATE TABLE events (
  id           bigserial PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  actor_id     uuid,
  actor_label  text,
  action       text NOT NULL,
  target_type  text NOT NULL,
  target_id    text,
  target_label text,
  data         jsonb NOT NULL DEFAULT '{}',
  version      integer,
  ip           text
);
CREATE INDEX events_actor_id_idx ON events (actor_id, id);
CREATE INDEX events_target_id_idx ON events (target_id, id);
CREATE INDEX events_action_idx ON events (action, id);

-- Failed sign-ins, kept in the database so every node sees the same counts.
-- scope is 'ip' or 'account'; key is the IP address or the lower-cased login.
CREATE TABLE login_failures (
  scope text NOT NULL,
  key   text NOT NULL,
  at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (scope, key, at);

-- One-time tokens that create the first admin; valid only while no user exists.
CREATE TABLE setup_tokens (
  hash       text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
