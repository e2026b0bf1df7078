-- Two-factor sign-in with TOTP (RFC 6238): an authenticator app's secret per user, single-use
-- recovery codes, and sign-ins that wait for the second step without being sessions.

-- When the user turned two-factor sign-in on (null: off), and, for staff who must have it
-- (REQUIRE_2FA_FOR_STAFF), when their grace period ends.
ALTER TABLE users ADD COLUMN two_factor_enabled_at timestamptz;
ALTER TABLE users ADD COLUMN two_factor_due_at timestamptz;

-- The authenticator's secret (20 random bytes). `pending_secret` is an enrolment shown but not yet
-- confirmed with a first code; confirming it replaces `secret`. `last_used_step` is the TOTP time
-- step of the last accepted code: only a later step is accepted, so no code works twice.
CREATE TABLE user_totp (
  user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret         bytea,
  last_used_step bigint,
  pending_secret bytea,
  pending_since  timestamptz
);

-- Recovery codes, stored as SHA-256 (120 random bits each); a used code is deleted.
CREATE TABLE recovery_codes (
  user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose password was right and whose second step is awaited: not a session. The browser
-- holds the token (its SHA-256 here) in a cookie only the second step reads; it lives minutes and
-- is deleted when used. `password_check` is the SHA-256 of the password hash the password was
-- checked against: a password changed meanwhile voids the sign-in.
CREATE TABLE pending_logins (
  token_hash     text PRIMARY KEY,
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  password_check text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL
);
CREATE INDEX pending_logins_user_id_idx ON pending_logins (user_id);
CREATE INDEX pending_logins_expires_at_idx ON pending_logins (expires_at);

-- How a session was authenticated (RFC 8176 values): `{pwd}`, or `{pwd,otp}` with a second factor.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
