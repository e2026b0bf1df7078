import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { runMigrations } from '../../db/migrate.ts';
import { connect, type Sql } from '../../server/src/database.ts';
import { databaseUrl, TEMPLATE_DATABASE } from './global-setup.ts';

/**
 * A new database for one test file: a clone of the migrated template, or empty when asked.
 * `icuLocale`: with that ICU collation as the database's default (as a `postgres` image initialised
 * for a language has), migrated anew, since a clone keeps the template's collation.
 */
export async function createTestDatabase(options: { empty?: boolean; icuLocale?: string } = {}): Promise<{ url: string; sql: Sql }> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const serverUrl = inject('postgresUrl');
  const admin = connect(serverUrl, { max: 1 });
  try {
    if (options.icuLocale) {
      await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${options.icuLocale}' LOCALE 'C.UTF-8'`);
    } else await admin.unsafe(options.empty ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);
  if (options.icuLocale && !options.empty) {
    const migrator = connect(url, { max: 1 });
    await runMigrations(migrator);
    await migrator.end();
  }
  return { url, sql: connect(url) };
}

/**
 * A fingerprint of every table a write route can touch, to prove a refused request changed nothing.
 * Left out: what merely being signed in records (a session's last sight, a key's last use) and failed sign-ins.
 */
export async function writableState(sql: Sql): Promise<string> {
  const [row] = await sql`
    SELECT md5(concat_ws('|',
      (SELECT string_agg(u::text, ',' ORDER BY id) FROM users u),
      (SELECT string_agg((to_jsonb(s) - 'last_seen_at')::text, ',' ORDER BY id) FROM sessions s),
      (SELECT string_agg((to_jsonb(k) - 'last_used_at')::text, ',' ORDER BY id) FROM api_keys k),
      (SELECT string_agg(p::text, ',' ORDER BY id) FROM projects p),
      (SELECT string_agg(m::text, ',' ORDER BY project_id, user_id) FROM project_members m),
      (SELECT string_agg(e::text, ',' ORDER BY id) FROM usage_events e),
      (SELECT count(*)::text FROM events WHERE action NOT IN ('auth.login_failed'))
    )) AS hash`;
  return row!.hash as string;
}

/**
 * Runs `work` while the real database refuses to open any session (a trigger raises): a fault in
 * the middle of a sign-in, after whatever the same request wrote before it.
 */
export async function whileSessionsRefused<T>(sql: Sql, work: () => Promise<T>): Promise<T> {
  await sql`CREATE FUNCTION refuse_sessions() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'sessions refused'; END $$`;
  await sql`CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION refuse_sessions()`;
  try {
    return await work();
  } finally {
    await sql`DROP TRIGGER refuse_sessions ON sessions`;
    await sql`DROP FUNCTION refuse_sessions()`;
  }
}

/**
 * `count` users named `<prefix>1` … `<prefix><count>` (display name `<Prefix> <n>`), written at once
 * with no events, for tables of many rows. `spacedBy`: a timestamp set a minute apart, the first
 * user the newest; `role`: all of them (plain users by default).
 */
export async function insertUsers(
  sql: Sql,
  prefix: string,
  count: number,
  options: { spacedBy?: 'created_at' | 'last_login_at'; role?: 'user' | 'moderator' | 'admin' } = {},
): Promise<void> {
  const name = prefix.charAt(0).toUpperCase() + prefix.slice(1);
  const spaced = options.spacedBy;
  await sql`
    INSERT INTO users (username, display_name, email, password_hash, role ${spaced ? sql`, ${sql(spaced)}` : sql``})
    SELECT ${prefix} || n, ${name} || ' ' || n, ${prefix} || n || '@example.com', 'x', ${options.role ?? 'user'}
           ${spaced ? sql`, now() - n * interval '1 minute'` : sql``}
    FROM generate_series(1, ${count}::int) n`;
}

