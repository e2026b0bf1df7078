-- Mail: invitations and password reset links (issue 16).

-- An invitation holds the profile of the account it will create: the account exists only once the
-- invited person accepts and chooses a password, so nothing without a password can sign in, and
-- revoking an invitation leaves no trace in the users table. Only the token's SHA-256 is kept
-- (like session tokens); a resend replaces it, so the older link stops working at once.
CREATE TABLE invitations (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username         citext NOT NULL UNIQUE,
  display_name     text NOT NULL,
  email            citext NOT NULL UNIQUE,
  role             text NOT NULL CHECK (role IN ('admin', 'moderator', 'user')),
  token_hash       text NOT NULL UNIQUE,
  created_by_id    uuid REFERENCES users (id) ON DELETE SET NULL,
  created_by_label text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- When the current link was made (the invitation, or its last resend).
  sent_at          timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);

-- One reset link per account: a new request replaces the previous link. A used link is deleted, and
-- so is every link of an account whose password changes by any other way.
CREATE TABLE password_resets (
  user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

-- A reset link went to an address, for a password: when either changes (by the person, an admin,
-- a CSV import, another reset), the link must not work any more. A trigger, so no path that
-- writes users can forget it.
CREATE FUNCTION roster_void_password_resets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM password_resets WHERE user_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER users_void_password_resets
  AFTER UPDATE OF email, password_hash ON users
  FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.password_hash IS DISTINCT FROM NEW.password_hash)
  EXECUTE FUNCTION roster_void_password_resets();
