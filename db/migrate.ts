import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Sql } from 'postgres';

const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));
// Any constant shared by every Roster process: the key of the advisory lock that serialises migrations.
const MIGRATION_LOCK_KEY = 7_264_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

let loaded: Promise<Migration[]> | undefined;

/** The migrations shipped with this build, read from disk once. */
export function loadMigrations(): Promise<Migration[]> {
  loaded ??= readMigrations();
  return loaded;
}

async function readMigrations(): Promise<Migration[]> {
  const files = (await readdir(migrationsDir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (name) => ({
      version: Number.parseInt(name, 10),
      name,
      sql: await readFile(migrationsDir + name, 'utf8'),
    })),
  );
}

/**
 * Applies the migrations not yet recorded, in order, each in its own transaction. Every transaction
 * first takes the same advisory lock, so a second process starting at once waits, then finds the
 * migration recorded and skips it.
 */
export async function runMigrations(sql: Sql): Promise<string[]> {
  const applied: string[] = [];
  for (const migration of await loadMigrations()) {
    const ran = await sql.begin(async (tx) => {
      // Waiting for another node's migration, or building an index on a big table, may take longer
      // than the statement limit that protects requests.
      await tx`SET LOCAL statement_timeout = 0`;
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      await tx`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version    integer PRIMARY KEY,
          name       text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`;
      const [done] = await tx`SELECT 1 FROM schema_migrations WHERE version = ${migration.version}`;
      if (done) return false;
      await tx.unsafe(migration.sql);
      await tx`INSERT INTO schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
      return true;
    });
    if (ran) applied.push(migration.name);
  }
  return applied;
}

/** True when every migration shipped with this build is recorded as applied. */
export async function migrationsUpToDate(sql: Sql): Promise<boolean> {
  const migrations = await loadMigrations();
  const [row] = await sql`
    SELECT count(*)::int AS applied FROM schema_migrations
    WHERE version IN ${sql(migrations.map((m) => m.version))}`;
  return row?.applied === migrations.length;
}
