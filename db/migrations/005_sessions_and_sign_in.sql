-- Sessions and sign-in hardening: stable session ids with rotating tokens, re-authentication,
-- one-time passwords, trusted browsers, attempts counted before they are checked.

-- A session keeps its id while its token is replaced (rotation on every password check); the
-- token's SHA-256 moves to a column of its own. Existing sessions keep working.
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey;
ALTER TABLE sessions RENAME COLUMN id TO token_hash;
ALTER TABLE sessions ADD CONSTRAINT sessions_token_hash_key UNIQUE (token_hash);
ALTER TABLE sessions ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE sessions ADD PRIMARY KEY (id);
-- When this session last checked the password: sensitive changes need it recent.
ALTER TABLE sessions ADD COLUMN authenticated_at timestamptz NOT NULL DEFAULT now();
UPDATE sessions SET authenticated_at = created_at;
CREATE INDEX sessions_user_last_seen_idx ON sessions (user_id, last_seen_at DESC);

-- A password chosen by an admin or generated works once: the next sign-in must replace it.
ALTER TABLE users ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;

-- Browsers that signed in to an account before (device cookies): their sign-ins are throttled per
-- device, so strangers' failures never lock the owner out.
CREATE TABLE trusted_devices (
  token_hash   text PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trusted_devices_user_id_idx ON trusted_devices (user_id, last_used_at DESC);

-- Attempts counted against limits (sign-in, re-authentication, registration, email changes): an
-- attempt is recorded before its secret is checked, and forgotten if it succeeds.
ALTER TABLE login_failures RENAME TO rate_limit_hits;
ALTER INDEX login_failures_key_idx RENAME TO rate_limit_hits_key_idx;
ALTER TABLE rate_limit_hits ADD COLUMN id bigserial PRIMARY KEY;
-- Old per-account counts were keyed by user id; per-login counts start afresh.
DELETE FROM rate_limit_hits WHERE scope = 'account';
