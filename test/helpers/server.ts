import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../../server/src/config.ts';
import { connect, type Sql } from '../../server/src/database.ts';
import { createLogger, type Logger } from '../../server/src/logger.ts';
import type { LiveHub } from '../../server/src/live/hub.ts';
import { startServer } from '../../server/src/server.ts';
import { createTestDatabase } from './database.ts';

export const webRoot = fileURLToPath(new URL('../../web/build/', import.meta.url));

export interface TestServer {
  url: string;
  origin: string;
  config: Config;
  /** A direct connection to the server's database, for arranging and checking state. */
  sql: Sql;
  databaseUrl: string;
  /** The server's live hub, to act on its connections as a network failure would. */
  live: LiveHub;
  close(): Promise<void>;
}

/** The real server on a random port against a fresh database (or the one given). */
export async function startTestServer(
  options: { env?: Record<string, string>; databaseUrl?: string; web?: boolean; log?: Logger; clock?: () => Date } = {},
): Promise<TestServer> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase()).url;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const serverSql = connect(databaseUrl);
  const sql = connect(databaseUrl, { max: 2 });
  const server = await startServer({
    config,
    sql: serverSql,
    databaseUrl,
    log: options.log ?? createLogger(config.LOG_LEVEL),
    webRoot: options.web ? webRoot : undefined,
    clock: options.clock,
  });
  return {
    url: server.url,
    origin: server.origins[0]!,
    config,
    sql,
    databaseUrl,
    live: server.live,
    close: async () => {
      await server.close();
      // Bounded like the server's own shutdown: after a database outage postgres.js's end() can
      // wait forever on a connection whose query failed (porsager/postgres#1097).
      await serverSql.end({ timeout: 5 });
      await sql.end({ timeout: 5 });
    },
  };
}
