import type { Sql } from 'postgres';
import { runMigrations } from '../../db/migrate.ts';
import type { Config } from './config.ts';
import { connect, startEmbeddedPostgres, type EmbeddedDatabase } from './database.ts';
import type { Logger } from './logger.ts';

export interface Database {
  sql: Sql;
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Connects to `DATABASE_URL`, or starts the embedded PostgreSQL when it is unset, and brings the
 * schema up to date (unless told not to). Shared by the server and the CLI so both see the same database.
 */
export async function openDatabase(config: Config, log: Logger, options = { migrate: true }): Promise<Database> {
  const embedded = config.DATABASE_URL ? null : await startEmbeddedPostgres(config.ROSTER_DATA_DIR, log);
  const url = config.DATABASE_URL ?? embedded!.url;
  const db = database(connect(url, { max: config.DATABASE_POOL_SIZE }), url, embedded);
  if (!options.migrate) return db;
  try {
    const applied = await runMigrations(db.sql);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

function database(sql: Sql, url: string, embedded: EmbeddedDatabase | null): Database {
  return {
    sql,
    url,
    embedded: embedded !== null,
    close: async () => {
      // Bounded: postgres.js's end() never resolves for a connection whose query failed when the
      // database went away (porsager/postgres#1097), e.g. after an outage.
      await sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}
