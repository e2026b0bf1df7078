-- The sessions list is paged by last use, most recent first (services/sessions.ts): this index
-- serves every page, the first and the deep ones alike.
CREATE INDEX sessions_last_seen_idx ON sessions (last_seen_at DESC, id DESC);
