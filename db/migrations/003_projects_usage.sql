-- Projects with row-level security, usage metering and monthly budgets.

-- The role the server takes (SET LOCAL ROLE) for queries that row-level security must govern.
-- Roles are cluster-wide, so it may already exist (another database on the same server).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'roster_app') THEN
    CREATE ROLE roster_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END
$$;
-- The connecting user must be allowed to become it.
DO $$
BEGIN
  EXECUTE format('GRANT roster_app TO %I', current_user);
END
$$;

CREATE TABLE projects (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  owner_id    uuid NOT NULL REFERENCES users (id),
  item_count  bigint NOT NULL DEFAULT 0 CHECK (item_count >= 0),
  size_bytes  bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_owner_id_idx ON projects (owner_id);

CREATE TABLE project_members (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  added_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_id_idx ON project_members (user_id);

-- Who is asking, set per transaction by the server (set_config(..., true)).
CREATE FUNCTION roster_user_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('roster.user_id', true), '')::uuid $$;
CREATE FUNCTION roster_sees_all_projects() RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce(current_setting('roster.role', true), '') IN ('admin', 'moderator') $$;

-- Membership and ownership lookups for the policies. SECURITY DEFINER (run as the tables' owner, so
-- without row-level security) keeps the two tables' policies from recursing into each other.
CREATE FUNCTION roster_is_member(project uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public AS
  $$ SELECT EXISTS (SELECT 1 FROM project_members WHERE project_id = project AND user_id = roster_user_id()) $$;
CREATE FUNCTION roster_owns(project uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public AS
  $$ SELECT EXISTS (SELECT 1 FROM projects WHERE id = project AND owner_id = roster_user_id()) $$;

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_members ENABLE ROW LEVEL SECURITY;

-- A plain user sees the projects they own or are a member of; staff see all.
CREATE POLICY projects_visible ON projects FOR SELECT USING (
  roster_sees_all_projects() OR owner_id = roster_user_id() OR roster_is_member(id)
);
-- Only staff change projects (owning applications use a system key, which acts as admin).
CREATE POLICY projects_managed ON projects FOR ALL USING (roster_sees_all_projects()) WITH CHECK (roster_sees_all_projects());
CREATE POLICY members_visible ON project_members FOR SELECT USING (
  roster_sees_all_projects() OR roster_owns(project_id) OR roster_is_member(project_id)
);
CREATE POLICY members_managed ON project_members FOR ALL USING (roster_sees_all_projects()) WITH CHECK (roster_sees_all_projects());

GRANT SELECT, INSERT, UPDATE, DELETE ON projects, project_members TO roster_app;
GRANT SELECT ON users TO roster_app;
GRANT INSERT ON events TO roster_app;
GRANT USAGE ON SEQUENCE events_id_seq TO roster_app;

-- Monthly budgets (null: unlimited).
ALTER TABLE users
  ADD COLUMN token_budget bigint CHECK (token_budget IS NULL OR (token_budget >= 100000 AND token_budget % 10000 = 0)),
  ADD COLUMN minute_budget integer CHECK (minute_budget IS NULL OR minute_budget >= 10);

CREATE TABLE usage_events (
  id              bigserial PRIMARY KEY,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  meter           text NOT NULL CHECK (meter IN ('tokens', 'minutes')),
  amount          numeric NOT NULL CHECK (amount > 0),
  source          text,
  at              timestamptz NOT NULL,
  idempotency_key text UNIQUE,
  recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_user_meter_at_idx ON usage_events (user_id, meter, at);
CREATE INDEX usage_events_at_idx ON usage_events (at);

-- Audit events written inside a row-secured transaction return their id.
GRANT SELECT (id) ON events TO roster_app;
