-- Applications that sign people in through Roster: OpenID Connect clients and hosts behind a
-- reverse proxy that asks Roster (forward authentication).

CREATE TABLE applications (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                      text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  -- The OpenID Connect client id; the secret is kept as the provider must compare it (never shown again).
  client_id                 text NOT NULL UNIQUE,
  client_secret             text NOT NULL,
  redirect_uris             text[] NOT NULL DEFAULT '{}',
  post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
  backchannel_logout_uri    text,
  -- The host a reverse proxy serves the application on, for GET /api/v1/auth/verify.
  forward_auth_host         citext UNIQUE,
  -- Who may use it: everyone, the listed roles, or the assigned users.
  access                    text NOT NULL DEFAULT 'everyone' CHECK (access IN ('everyone', 'roles', 'users')),
  allowed_roles             text[] NOT NULL DEFAULT '{}',
  enabled                   boolean NOT NULL DEFAULT true,
  version                   integer NOT NULL DEFAULT 1,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE application_users (
  application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (application_id, user_id)
);
CREATE INDEX application_users_user_id_idx ON application_users (user_id);

-- The OpenID provider's state (server/src/oidc/adapter.ts): sessions, grants, codes, tokens,
-- interactions, one row each, so it survives restarts and is shared by every node.
CREATE TABLE oidc_payloads (
  model            text NOT NULL,
  id               text NOT NULL,
  payload          jsonb NOT NULL,
  grant_id         text,
  user_code        text,
  uid              text,
  -- Whose it is, and (for provider sessions) the Roster session it was made in: revoking either
  -- ends it, with its grants and tokens.
  account_id       uuid,
  roster_session_id uuid,
  expires_at       timestamptz,
  consumed_at      timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_payloads_grant_id_idx ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_payloads_uid_idx ON oidc_payloads (uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_payloads_user_code_idx ON oidc_payloads (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_payloads_account_id_idx ON oidc_payloads (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX oidc_payloads_roster_session_idx ON oidc_payloads (roster_session_id) WHERE roster_session_id IS NOT NULL;
CREATE INDEX oidc_payloads_expires_at_idx ON oidc_payloads (expires_at);

-- Signing keys (private JWKs). The newest active one signs; retired ones stay published until the
-- tokens they signed have expired.
CREATE TABLE oidc_keys (
  kid        text PRIMARY KEY,
  jwk        jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Back-channel logout: what each application must be told, written in the transaction that ends
-- the sessions (the outbox), delivered by any node with retries; the rows are the delivery log.
CREATE TABLE logout_deliveries (
  id              bigserial PRIMARY KEY,
  application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  account_id      uuid NOT NULL,
  sid             text,
  reason          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  last_error      text
);
CREATE INDEX logout_deliveries_due_idx ON logout_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
