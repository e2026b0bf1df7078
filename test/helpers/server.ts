import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
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

export interface TestServerOptions {
  /** Environment variables on top of the test defaults (port 0, localhost, silent logs). */
  env?: Record<string, string>;
  databaseUrl?: string;
  /** The fresh database's default collation, an ICU locale (`en-US`); else the template's (`C.UTF-8`). */
  icuLocale?: string;
  /** Serve the built console (`web/build`), for browser tests. */
  web?: boolean;
  log?: Logger;
  clock?: () => Date;
}

/** The real server on a random port against a fresh database (or the one given). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase({ icuLocale: options.icuLocale })).url;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const serverSql = connect(databaseUrl, { max: config.DATABASE_POOL_SIZE });
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

/**
 * The test server of the file, or describe block, it is called in: started before its tests and
 * closed after them. The handle can be passed around at once (to `useSignedInClient`, to helpers);
 * what it holds is read once the server runs, inside hooks and tests.
 */
export function useTestServer(options: TestServerOptions = {}): TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(options);
  });
  afterAll(async () => {
    await server?.close();
    server = undefined;
  });
  const running = (): TestServer => {
    if (!server) throw new Error('The test server runs only during the tests and hooks of the block that uses it');
    return server;
  };
  return {
    get url() {
      return running().url;
    },
    get origin() {
      return running().origin;
    },
    get config() {
      return running().config;
    },
    get sql() {
      return running().sql;
    },
    get databaseUrl() {
      return running().databaseUrl;
    },
    get live() {
      return running().live;
    },
    close: () => running().close(),
  };
}
