-- The sessions list filters by network and by browser (`GET /sessions?ip=10.7.0.0/16&agent=iphone`,
-- services/sessions.ts). Without an index for either, a filter that few sessions match read all of
-- them (100 ms at 100,000 sessions, BENCHMARKS.md). The address is stored as inet, so a GiST index
-- finds a network's sessions; a trigram index finds the sessions whose user agent contains a text.
-- The server writes only addresses (the connection's, or a trusted proxy's X-Forwarded-For checked
-- with isIP), so every row converts; anything else an older build stored becomes NULL.
CREATE FUNCTION pg_temp.address_or_null(address text) RETURNS inet LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN address::inet;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;
ALTER TABLE sessions ALTER COLUMN ip TYPE inet USING pg_temp.address_or_null(ip);
CREATE INDEX sessions_ip_idx ON sessions USING gist (ip inet_ops);
CREATE INDEX sessions_user_agent_trgm_idx ON sessions USING gin (user_agent gin_trgm_ops);
