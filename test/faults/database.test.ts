import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runMigrations } from '../../db/migrate.ts';
import { connect, startEmbeddedPostgres, type EmbeddedDatabase } from '../../server/src/database.ts';
import { createLogger } from '../../server/src/logger.ts';
import { signedInClient } from '../helpers/clients.ts';
import { freezeCluster } from '../helpers/freeze.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Availability while PostgreSQL is away: every request answers within 2 s (503 unavailable), and
// service returns within 2 s of the database's return. This file runs its own PostgreSQL, so
// stopping or freezing it disturbs no other test file.

const BOUND_MS = 2000;

let dataDir: string;
let postgres: EmbeddedDatabase;
let port: number;
let server: TestServer;
let cookie: string;
let apiKey: string;
const log = createLogger('silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'roster-faults-'));
  postgres = await startEmbeddedPostgres(dataDir, log);
  port = Number(new URL(postgres.url).port);
  const sql = connect(postgres.url, { max: 1 });
  await runMigrations(sql);
  await sql.end();
  server = await startTestServer({ databaseUrl: postgres.url });
  const { client } = await signedInClient(server, { role: 'admin' });
  cookie = client.cookie!;
  apiKey = (await client.post('/api/v1/api-keys', { name: 'faults', system: true })).body.key;
}, 60_000);

afterAll(async () => {
  await server?.close();
  await postgres?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

interface Outcome {
  what: string;
  /** The HTTP status, or how the handshake ended, or why there was no answer. */
  result: number | string;
  code?: string;
  ms: number;
}

let created = 0;

/** One request of every kind that needs the database, plus /healthz, which must not. */
function everyKind(): Promise<Outcome>[] {
  created += 1;
  const withCookie = { cookie, origin: server.origin, 'content-type': 'application/json' };
  return [
    call('GET /users (cookie)', '/api/v1/users', { headers: withCookie }),
    call('GET /auth/me (cookie)', '/api/v1/auth/me', { headers: withCookie }),
    call('POST /users (cookie)', '/api/v1/users', {
      method: 'POST',
      headers: withCookie,
      body: JSON.stringify({ username: `fault-${created}`, display_name: 'F', email: `fault-${created}@example.com`, generate_password: true }),
    }),
    call('GET /users/stats (API key)', '/api/v1/users/stats', { headers: { authorization: `Bearer ${apiKey}` } }),
    call('GET /readyz', '/readyz'),
    handshake('socket handshake'),
    call('GET /healthz', '/healthz'),
  ];
}

async function call(what: string, url: string, init: RequestInit = {}): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await fetch(server.url + url, { ...init, signal: AbortSignal.timeout(10_000) });
    const body = (await response.json().catch(() => null)) as { error?: { code: string } } | null;
    return { what, result: response.status, code: body?.error?.code, ms: performance.now() - started };
  } catch (error) {
    return { what, result: `no answer (${(error as Error).name})`, ms: performance.now() - started };
  }
}

function handshake(what: string): Promise<Outcome> {
  const started = performance.now();
  const socket = io(server.url, {
    path: '/socket.io',
    transports: ['websocket'],
    extraHeaders: { origin: server.origin, cookie },
    reconnection: false,
    forceNew: true,
  });
  return new Promise((resolve) => {
    // The client's own `timeout` bounds only the transport's opening, not the server's middleware.
    const timer = setTimeout(() => done('no answer'), 10_000);
    const done = (result: string) => {
      clearTimeout(timer);
      socket.close();
      resolve({ what, result, ms: performance.now() - started });
    };
    socket.once('connect', () => done('connected'));
    socket.once('connect_error', (error) => done(error.message));
  });
}

/** Sends a round of every kind every 400 ms for `ms`, and waits for all of them. */
async function roundsFor(ms: number): Promise<Outcome[]> {
  const pending: Promise<Outcome>[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    pending.push(...everyKind());
    await sleep(400);
  }
  return Promise.all(pending);
}

/** What did not answer 503 unavailable (healthz: 200) within the bound, as readable lines. */
function failures(outcomes: Outcome[]): string[] {
  return outcomes
    .filter((o) => {
      if (o.ms >= BOUND_MS) return true;
      if (o.what === 'GET /healthz') return o.result !== 200;
      if (o.what === 'socket handshake') return o.result !== 'unavailable';
      return o.result !== 503 || o.code !== 'unavailable';
    })
    .map((o) => `${o.what}: ${o.result}${o.code ? ` ${o.code}` : ''} after ${Math.round(o.ms)} ms`);
}

const succeeded = (o: Outcome) => o.result === 'connected' || (typeof o.result === 'number' && o.result < 300);

/** Time from now until every kind has succeeded at least once, sending a round every 100 ms (at most 15 s). */
async function recovery(): Promise<number> {
  const started = performance.now();
  const working = new Set<string>();
  while (performance.now() - started < 15_000) {
    const outcomes = await Promise.all(everyKind());
    for (const outcome of outcomes) if (succeeded(outcome)) working.add(outcome.what);
    if (working.size === outcomes.length) break;
    await sleep(100);
  }
  return performance.now() - started;
}

function summary(outcomes: Outcome[]): string {
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  return `${outcomes.length} requests, slowest ${Math.round(slowest)} ms`;
}

describe('server-side limits', () => {
  test('no statement or idle transaction can hold a connection for ever', async () => {
    const [limits] = await server.sql`
      SELECT current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`;
    expect(limits).toEqual({ statement: '30s', idle: '1min' });
  });
});

describe('PostgreSQL stopped for 10 s', () => {
  test('every request answers 503 within 2 s, and service returns within 2 s of the restart', { timeout: 120_000 }, async () => {
    expect((await Promise.all(everyKind())).filter((o) => !succeeded(o))).toEqual([]);

    await postgres.stop();
    let during: Outcome[];
    try {
      during = await roundsFor(10_000);
    } finally {
      postgres = await startEmbeddedPostgres(dataDir, log, { port });
    }
    const back = await recovery();
    console.log(`stopped: ${summary(during)}`);
    expect(failures(during)).toEqual([]);
    console.log(`stopped: every kind works again ${Math.round(back)} ms after the restart`);
    expect(back).toBeLessThan(BOUND_MS);
  });
});

describe('PostgreSQL frozen (SIGSTOP) for 5 s', () => {
  test('every request answers within 2 s, in flight or new, and service returns within 2 s of SIGCONT', { timeout: 120_000 }, async () => {
    expect((await Promise.all(everyKind())).filter((o) => !succeeded(o))).toEqual([]);

    // Requests already inside the database when it freezes may finish first or answer 503.
    const inFlight = everyKind();
    const thaw = await freezeCluster(path.join(dataDir, 'pg'));
    const frozen = performance.now();
    let during: Outcome[];
    try {
      during = await roundsFor(5000);
    } finally {
      thaw();
    }
    console.log(`frozen: ${summary(during)}, thawed after ${Math.round(performance.now() - frozen)} ms`);
    const caught = await Promise.all(inFlight);
    expect(caught.filter((o) => o.ms >= BOUND_MS || !(succeeded(o) || o.result === 503 || o.result === 'unavailable'))).toEqual([]);
    expect(failures(during)).toEqual([]);

    const back = await recovery();
    console.log(`frozen: every kind works again ${Math.round(back)} ms after SIGCONT`);
    expect(back).toBeLessThan(BOUND_MS);
  });
});
