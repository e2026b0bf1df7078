// Over 300 lines for a reason: every benchmark shares the processes, client workers and table printing of this one runner, so the baselines run on the same footing.
// npm run bench: Roster measured against bare baselines in the same run, on this machine.
// Prints a table per benchmark and appends them to BENCHMARKS.md with the machine and command.
import { fork, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { runMigrations } from '../db/migrate.ts';
import { generateSessionToken } from '../server/src/auth/sessions.ts';
import { sha256Hex } from '../server/src/auth/tokens.ts';
import { DEFAULT_DATABASE_POOL_SIZE, loadConfig } from '../server/src/config.ts';
import { tuneGarbageCollector } from '../server/src/garbage-collector.ts';
import { connect, startEmbeddedPostgres, type Sql } from '../server/src/database.ts';
import { createLogger } from '../server/src/logger.ts';
import { startServer, type RunningServer } from '../server/src/server.ts';
import { cliActor } from '../server/src/services/events.ts';
import { createUser } from '../server/src/services/users/changes.ts';
import { listUsers } from '../server/src/services/users/listing.ts';
import { listSessions, toSessionDto } from '../server/src/services/sessions.ts';
import { sessionPolicy, validateSessionToken } from '../server/src/auth/sessions.ts';
import { spawnRoster } from '../test/helpers/processes.ts';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
// The organisation-wide run: this many sockets, of which BIG_STAFF are staff.
const BIG_CLIENTS = Number(process.env.BENCH_BIG_CLIENTS ?? 10_000);
const BIG_STAFF = 100;
const CLIENT_WORKERS = Number(process.env.BENCH_CLIENT_WORKERS ?? Math.max(2, Math.min(4, cpus().length)));
const UPDATES = Number(process.env.BENCH_UPDATES ?? 200);
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const AUTH_ROUNDS = Number(process.env.BENCH_AUTH_ROUNDS ?? 5);
const AUTH_SECONDS = Number(process.env.BENCH_AUTH_SECONDS ?? 2);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100_000);
const log = createLogger('silent');
const now = () => performance.timeOrigin + performance.now();
const sections: string[] = [];

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The middle value (the upper one of an even count). */
function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1]!;
}

/** "median (lowest–highest)". */
function spread(values: number[], digits = 2): string {
  return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

function table(title: string, head: string[], rows: (string | number)[][], notes: string[] = []) {
  const format = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v);
  const lines = [`### ${title}`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(format).join(' | ')} |`)];
  if (notes.length) lines.push('', ...notes);
  const text = lines.join('\n');
  process.stdout.write(`\n${text}\n`);
  sections.push(text);
}

// ---- Processes ------------------------------------------------------------------------------------

function clientsProcess(): Promise<ChildProcess> {
  const child = fork(path.join(import.meta.dirname, 'clients.ts'), { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => child.once('message', () => resolve(child)));
}

function ask<T>(child: ChildProcess, message: object, reply: string): Promise<T> {
  return new Promise((resolve, reject) => {
    // A client process that dies (a connection timed out) must fail the run, not hang it.
    const died = (code: number | null) => reject(new Error(`client process exited with ${code} while waiting for ${reply}`));
    const handler = (answer: { type: string }) => {
      if (answer.type !== reply) return;
      child.off('message', handler).off('exit', died);
      resolve(answer as T);
    };
    child.on('message', handler).once('exit', died);
    child.send(message);
  });
}

async function startNode(databaseUrl: string) {
  const node = spawnRoster('server/src/main.ts', [], { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const url = (await node.waitFor(/running at (http:\S+)/))[1]!;
  return { node, url };
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function sessionsFor(sql: Sql, userId: string, count: number): Promise<{ cookie: string; id: string }[]> {
  const tokens = Array.from({ length: count }, () => generateSessionToken());
  const rows = await sql<{ id: string }[]>`
    INSERT INTO sessions (token_hash, user_id, expires_at, ip, user_agent)
    SELECT hash, ${userId}, now() + interval '30 days', '127.0.0.1', 'bench' FROM unnest(${tokens.map(sha256Hex)}::text[]) hash
    RETURNING id`;
  return rows.map((row, i) => ({ cookie: `roster_session=${tokens[i]}`, id: row.id }));
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Benchmarks ---------------------------------------------------------------------------------

/** Client sockets spread over worker processes, so the server, not one client process, is what is measured. */
async function clientWorkers(count: number): Promise<ChildProcess[]> {
  return Promise.all(Array.from({ length: count }, () => clientsProcess()));
}

async function connectAll(workers: ChildProcess[], url: string, cookies: (string | null)[], listen: string) {
  const share = Math.ceil(cookies.length / workers.length);
  await Promise.all(workers.map((worker, i) => ask(worker, { type: 'connect', url, origin: url, cookies: cookies.slice(i * share, (i + 1) * share), listen }, 'connected')));
}

async function collectAll(workers: ChildProcess[]): Promise<{ key: string; at: number }[]> {
  const results = await Promise.all(workers.map((worker) => ask<{ arrivals: { key: string; at: number }[] }>(worker, { type: 'collect' }, 'results')));
  await Promise.all(workers.map((worker) => ask(worker, { type: 'close' }, 'closed')));
  return results.flatMap((r) => r.arrivals);
}

/** Latency from commit: each change's clock starts when its committed answer comes back. */
async function timedChanges(count: number, change: (i: number) => Promise<string>): Promise<Map<string, number>> {
  const committed = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const key = await change(i);
    committed.set(key, now());
  }
  return committed;
}

async function fanOut(sql: Sql, databaseUrl: string, adminId: string, adminCookie: string) {
  const workers = await clientWorkers(CLIENT_WORKERS);
  const { node, url } = await startNode(databaseUrl);
  const target = await createUser(sql, cliActor, { username: 'fanout-target', display_name: 'Fan Out', email: 'fanout@example.com', role: 'user', password: 'bench pass phrase' });
  const rows: (string | number)[][] = [];
  const memory: (string | number)[][] = [];
  let version = 1;
  const patchTarget = async () => {
    const response = await fetch(`${url}/api/v1/users/${target.id}`, {
      method: 'PATCH',
      headers: { origin: url, cookie: adminCookie, 'content-type': 'application/json' },
      body: JSON.stringify({ version, display_name: `Fan Out ${version}` }),
    });
    const { user } = (await response.json()) as { user: { id: string; version: number } };
    version = user.version;
    return `${user.id}:${user.version}`;
  };

  // 1,000 admin sockets: every change reaches every one of them.
  const rssIdle = await rssMiB(node.child.pid!);
  const adminCookies = (await sessionsFor(sql, adminId, CLIENTS)).map((s) => s.cookie);
  await connectAll(workers, url, adminCookies, 'event');
  await settle(1000);
  const rssAdmins = await rssMiB(node.child.pid!);
  const rosterStarted = await timedChanges(UPDATES, patchTarget);
  await settle(2000);
  const rosterLatencies = latencies(await collectAll(workers), rosterStarted);

  // The same sockets against a bare Socket.IO server that broadcasts what it is sent.
  const bare = spawnRoster('bench/bare-server.ts', [], {});
  const bareUrl = (await bare.waitFor(/running at (http:\S+)/))[1]!;
  await connectAll(workers, bareUrl, adminCookies.map(() => null), 'event');
  await settle(1000);
  const sample = (await sql`SELECT * FROM events WHERE action = 'user.updated' ORDER BY id DESC LIMIT 1`)[0];
  const bareStarted = await timedChanges(UPDATES, async (i) => {
    await fetch(`${bareUrl}/broadcast`, { method: 'POST', body: JSON.stringify({ ...sample, key: `bare-${i}` }) });
    return `bare-${i}`;
  });
  await settle(2000);
  const bareLatencies = latencies(await collectAll(workers), bareStarted);
  bare.child.kill();
  rows.push(receipts(`Roster, ${CLIENTS} admin sockets (PATCH → commit → NOTIFY → fan-out)`, rosterLatencies, UPDATES * CLIENTS));
  rows.push(receipts(`bare Socket.IO broadcast, ${CLIENTS} sockets (POST → emit)`, bareLatencies, UPDATES * CLIENTS));
  memory.push([`${CLIENTS} admin sockets`, rssAdmins - rssIdle, (((rssAdmins - rssIdle) * 1024) / CLIENTS).toFixed(1)]);

  // An organisation where everyone has the console open: mostly plain users, whose sockets get only
  // events about themselves, and a hundred staff who get everything.
  const plainCount = BIG_CLIENTS - BIG_STAFF;
  const plain = await signedInUsers(sql, 'everyone-', plainCount);
  const staffCookies = adminCookies.slice(0, BIG_STAFF);
  const rssBefore = await rssMiB(node.child.pid!);
  await connectAll(workers, url, [...staffCookies, ...plain.map((p) => p.cookie)], 'event');
  await settle(2000);
  const rssBig = await rssMiB(node.child.pid!);
  const bigStarted = await timedChanges(UPDATES, patchTarget);
  await settle(3000);
  const bigLatencies = latencies(await collectAll(workers), bigStarted);
  rows.push(receipts(`Roster, ${BIG_CLIENTS} sockets (${BIG_STAFF} staff receive each change)`, bigLatencies, UPDATES * BIG_STAFF));
  memory.push([`${BIG_CLIENTS} sockets (${plainCount} plain users)`, rssBig - rssBefore, (((rssBig - rssBefore) * 1024) / BIG_CLIENTS).toFixed(1)]);

  for (const worker of workers) worker.kill();
  node.child.kill('SIGTERM');
  await node.exited;
  table(
    `Fan-out: ${UPDATES} user updates, ms from the committed answer to receipt (client sockets in ${CLIENT_WORKERS} worker processes)`,
    ['server', 'receipts', 'p50', 'p95', 'p99'],
    rows,
    [
      `Ratio p99 Roster / bare at ${CLIENTS} sockets: ${(percentile(rosterLatencies, 99) / percentile(bareLatencies, 99)).toFixed(2)} (target ≤ 1.5, and p99 < 50 ms).`,
      `Events reach only the rooms allowed to see them: at ${BIG_CLIENTS} sockets a staff event is encoded once and written to the ${BIG_STAFF} staff sockets; the plain users' sockets cost nothing per event.`,
    ],
  );
  table(`Memory per connected socket (RSS of the Roster process)`, ['sockets', 'RSS added (MiB)', 'per socket (KiB)'], memory);
}

function latencies(arrivals: { key: string; at: number }[], started: Map<string, number>): number[] {
  return arrivals.filter((a) => started.has(a.key)).map((a) => a.at - started.get(a.key)!);
}

function receipts(name: string, values: number[], expected: number): (string | number)[] {
  return [name, `${values.length} / ${expected}`, percentile(values, 50), percentile(values, 95), percentile(values, 99)];
}

async function measureLoop(run: () => Promise<unknown>, connections: number): Promise<{ latencies: number[]; perSecond: number }> {
  const latencies: number[] = [];
  const end = now() + DURATION * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (now() < end) {
        const started = now();
        await run();
        latencies.push(now() - started);
      }
    }),
  );
  return { latencies, perSecond: latencies.length / DURATION };
}

/**
 * `connections` clients sending requests one after another, each as soon as its last is answered.
 * Latencies are read from each response: autocannon's own percentiles are whole milliseconds (it
 * reported 1 ms for anything from 1.00 to 1.99), too coarse for requests that take about one.
 */
async function httpLoad(url: string, headers: Record<string, string>, connections = 10, duration = DURATION) {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    // Successful answers only, as in autocannon's own figures; the others count in `errors`.
    autocannon({ url, connections, duration, headers }, (error, result) => (error ? reject(error) : resolve(result))).on('response', (_client, status, _bytes, ms) => {
      if (status < 300) latencies.push(ms);
    });
  });
  const ms = (p: number) => Math.round(percentile(latencies, p) * 100) / 100;
  return { p50: ms(50), p99: ms(99), perSecond: result.requests.average, errors: result.non2xx + result.errors };
}

type HttpFigures = Awaited<ReturnType<typeof httpLoad>>;

/**
 * Measures each target once to warm it, then in AUTH_ROUNDS rounds in alternating order, so that
 * targets are compared within each round: on these shared machines one target measured twice in a
 * row differs by up to 10 %, and a process serving load for half a minute slows by up to a third
 * (BENCHMARKS.md, "Measuring request cost").
 */
async function inRounds<Name extends string>(targets: Record<Name, (seconds: number) => Promise<HttpFigures>>): Promise<Record<Name, HttpFigures>[]> {
  const names = Object.keys(targets) as Name[];
  for (const name of names) await targets[name](1);
  const rounds: Record<Name, HttpFigures>[] = [];
  for (let round = 0; round < AUTH_ROUNDS; round++) {
    const measured = {} as Record<Name, HttpFigures>;
    for (const name of round % 2 ? [...names].reverse() : names) measured[name] = await targets[name](AUTH_SECONDS);
    rounds.push(measured);
  }
  return rounds;
}

async function search(sql: Sql, databaseUrl: string, adminCookie: string) {
  // Seeding a million rows takes longer than the server's statement limit allows a request.
  await sql.begin(async (tx) => {
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`
    INSERT INTO users (username, display_name, email, role, status, password_hash, created_at)
    SELECT 'member' || n,
           (ARRAY['Ada','Alan','Grace','Linus','Margaret','Ken','Barbara','Dennis','Frances','Edsger'])[1 + n % 10] || ' ' ||
           (ARRAY['Lovelace','Turing','Hopper','Torvalds','Hamilton','Thompson','Liskov','Ritchie','Allen','Dijkstra'])[1 + (n / 10) % 10] || ' ' || n,
           'member' || n || '@' || (ARRAY['example.com','corp.example','mail.example'])[1 + n % 3],
           (ARRAY['user','user','user','user','moderator','admin'])[1 + n % 6],
           CASE WHEN n % 7 = 0 THEN 'inactive' ELSE 'active' END,
           'x', now() - n * interval '1 second'
    FROM generate_series(1, ${USERS}) n`;
  });
  await sql`VACUUM ANALYZE users`; // the steady state autovacuum keeps a live table in
  const [deep] = await sql<{ key: string; id: string }[]>`
    SELECT created_at::text AS key, id FROM users ORDER BY created_at DESC, id DESC OFFSET ${Math.floor(USERS * 0.9)} LIMIT 1`;
  const cursor = Buffer.from(JSON.stringify([deep!.key, deep!.id])).toString('base64url');

  const { node, url } = await startNode(databaseUrl);
  const cases: { name: string; query: Record<string, string> }[] = [
    { name: 'search by substring (q=hopper 42)', query: { q: 'hopper 42' } },
    { name: 'role + status filter', query: { role: 'moderator', status: 'inactive' } },
    { name: 'deep keyset page (90 %)', query: { cursor } },
  ];
  const rows: (string | number)[][] = [];
  for (const c of cases) {
    const params = new URLSearchParams({ ...c.query, limit: '50' });
    const query = () => listUsers(sql, { sort: '-created_at', limit: 50, ...c.query } as Parameters<typeof listUsers>[1], new Date());
    const single = await httpLoad(`${url}/api/v1/users?${params}`, { cookie: adminCookie }, 1);
    const loaded = await httpLoad(`${url}/api/v1/users?${params}`, { cookie: adminCookie }, 10);
    const bareSingle = await measureLoop(query, 1);
    const bareLoaded = await measureLoop(query, 10);
    rows.push([c.name, 'Roster GET /api/v1/users', single.p50, single.p99, Math.round(loaded.perSecond), loaded.p99, single.errors + loaded.errors]);
    rows.push([c.name, 'same SQL via postgres.js', percentile(bareSingle.latencies, 50), percentile(bareSingle.latencies, 99), Math.round(bareLoaded.perSecond), percentile(bareLoaded.latencies, 99), 0]);
  }
  node.child.kill('SIGTERM');
  await node.exited;
  table(`Users list and search at ${USERS.toLocaleString('en')} users (${DURATION} s each)`, ['query', 'through', 'p50 ms (1 client)', 'p99 ms (1 client)', 'req/s (10 clients)', 'p99 ms (10 clients)', 'errors'], rows, [
    'The SQL baseline calls the same query function (page + total, with per-row session, project, key and usage counts) directly, with no HTTP or authentication.',
  ]);
}

async function sessionsList(sql: Sql, databaseUrl: string, adminCookie: string) {
  // SESSIONS sessions of SESSIONS / 10 people, used over the last week.
  await sql.begin(async (tx) => {
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`
      INSERT INTO users (username, display_name, email, password_hash)
      SELECT 'holder' || n, 'Session Holder ' || n, 'holder' || n || '@example.com', 'x' FROM generate_series(1, ${Math.ceil(SESSIONS / 10)}) n`;
    await tx`
      INSERT INTO sessions (token_hash, user_id, expires_at, last_seen_at, ip, user_agent)
      SELECT md5('bench session ' || n), u.id, now() + interval '20 days', now() - (n % 10000) * interval '1 minute' - n * interval '1 millisecond',
             ('10.' || (n % 250) || '.' || (n / 250 % 250) || '.7')::inet,
             (ARRAY['Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0',
                    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1',
                    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36'])[1 + n % 3]
      FROM generate_series(1, ${SESSIONS}) n
      JOIN users u ON u.username = 'holder' || (1 + n % ${Math.ceil(SESSIONS / 10)})`;
  });
  await sql`VACUUM ANALYZE sessions`;
  await sql`VACUUM ANALYZE users`;
  const [deep] = await sql<{ key: string; id: string }[]>`
    SELECT last_seen_at::text AS key, id FROM sessions ORDER BY last_seen_at DESC, id DESC OFFSET ${Math.floor(SESSIONS * 0.9)} LIMIT 1`;
  const cursor = Buffer.from(JSON.stringify([deep!.key, deep!.id])).toString('base64url');
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' });
  const policy = sessionPolicy(config);
  const [admin] = await sql<{ id: string; username: string; role: 'admin' }[]>`SELECT id, username, role FROM users WHERE username = 'bench-admin'`;
  const principal = { kind: 'session' as const, user: admin as never, role: 'admin' as const, session: null, apiKeyId: null, label: 'bench', twoFactorDueAt: null, twoFactorRequiredBy: null };

  const { node, url } = await startNode(databaseUrl);
  const cases: { name: string; query: Record<string, string> }[] = [
    { name: 'first page', query: {} },
    { name: 'deep keyset page (90 %)', query: { cursor } },
    { name: 'by person (q=holder 4242)', query: { q: 'holder 4242' } },
    { name: 'by network and browser (ip=10.7.0.0/16, agent=iphone)', query: { ip: '10.7.0.0/16', agent: 'iphone' } },
    { name: 'by a browser a third of them have (agent=iphone)', query: { agent: 'iphone' } },
    { name: 'by a browser no session has (agent=curl)', query: { agent: 'curl' } },
  ];
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  for (const c of cases) {
    const params = new URLSearchParams({ ...c.query, limit: '100' });
    const query = () => listSessions(sql, principal, { limit: 100, ...c.query } as Parameters<typeof listSessions>[2], new Set(), policy);
    const single = await httpLoad(`${url}/api/v1/sessions?${params}`, { cookie: adminCookie }, 1);
    const bare = await measureLoop(query, 1);
    const bareP99 = percentile(bare.latencies, 99);
    rows.push([c.name, 'Roster GET /api/v1/sessions', single.p50, single.p99, single.errors]);
    rows.push([c.name, 'same SQL via postgres.js', percentile(bare.latencies, 50), bareP99, 0]);
    notes.push(`${c.name}: p99 ${single.p99} ms (target < 20 ms), ${(single.p99 / Math.max(bareP99, 1)).toFixed(2)}× the SQL (target ≤ 2×).`);
  }
  node.child.kill('SIGTERM');
  await node.exited;
  table(`Sessions list: a page of 100 out of ${SESSIONS.toLocaleString('en')} sessions (1 client, ${DURATION} s each)`, ['query', 'through', 'p50 ms', 'p99 ms', 'errors'], rows, [
    'The SQL baseline calls the same query function (the page with users and the applications of each session) directly, with no HTTP or authentication.',
    ...notes,
  ]);
}

async function authCost(sql: Sql, databaseUrl: string, adminCookie: string, adminId: string) {
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' });
  const server = await startServer({ config, sql, databaseUrl, log });
  // Baselines: a route that does nothing, one that reads one row by primary key through the same
  // driver (the least any authenticated request costs), and one that runs Roster's own session
  // check and answers what GET /auth/me answers, with none of the server around it: what is left
  // between it and Roster is the server's own cost per request (routing, headers, gate, log).
  const policy = sessionPolicy(config);
  const token = adminCookie.slice(adminCookie.indexOf('=') + 1);
  const bareApp = new Hono()
    .get('/me', (c) => c.json({ user: { id: 'x', username: 'bare' } }))
    .get('/row', async (c) => {
      const [user] = await sql`SELECT id, username, display_name, role, status FROM users WHERE id = ${adminId}`;
      return c.json({ user });
    })
    .get('/session', async (c) => {
      const validated = await validateSessionToken(sql, token, policy);
      if (!validated) return c.json({ error: 'signed out' }, 401);
      return c.json({ user: validated.user, session: toSessionDto(validated.session), two_factor_required_by: null });
    });
  const bare = await new Promise<{ port: number; close(): void }>((resolve) => {
    const s = serve({ fetch: bareApp.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve({ port: info.port, close: () => s.close() }));
  });
  const routes = {
    roster: { url: `${server.url}/api/v1/auth/me`, headers: { cookie: adminCookie } },
    check: { url: `http://127.0.0.1:${bare.port}/session`, headers: {} },
    lookup: { url: `http://127.0.0.1:${bare.port}/row`, headers: {} },
    baseline: { url: `http://127.0.0.1:${bare.port}/me`, headers: {} },
  };
  type RouteName = keyof typeof routes;
  const load = (name: RouteName) => (seconds: number) => httpLoad(routes[name].url, routes[name].headers, 10, seconds);
  const rounds = await inRounds({ roster: load('roster'), check: load('check'), lookup: load('lookup'), baseline: load('baseline') });
  bare.close();
  await server.close();
  const ratio = (a: RouteName, b: RouteName, field: 'perSecond' | 'p99') => rounds.map((r) => r[a][field] / r[b][field]);
  const row = (label: string, name: RouteName) => {
    const of = (field: 'perSecond' | 'p50' | 'p99' | 'errors') => rounds.map((r) => r[name][field]);
    return [label, spread(of('perSecond'), 0), median(of('p50')), median(of('p99')), of('errors').reduce((a, b) => a + b, 0)];
  };
  table(`Authenticated request cost (10 connections; ${AUTH_ROUNDS} rounds of ${AUTH_SECONDS} s per route, medians; server and load generator in one process)`, ['route', 'req/s (lowest–highest)', 'p50 ms', 'p99 ms', 'errors'], [
    row('Roster GET /api/v1/auth/me (session and user in one query)', 'roster'),
    row('bare Hono route running the same session check, same answer', 'check'),
    row('bare Hono route, one primary-key lookup through postgres.js', 'lookup'),
    row('bare Hono route', 'baseline'),
  ], [
    `Ratio req/s Roster / one lookup, median of the rounds (lowest–highest): ${spread(ratio('roster', 'lookup', 'perSecond'))} (target ≥ 0.60); p99 ${spread(ratio('roster', 'lookup', 'p99'))}× (target ≤ 1.5×).`,
    `Ratio req/s of the bare session check / one lookup: ${spread(ratio('check', 'lookup', 'perSecond'))} (the query and answer alone); Roster / the bare session check: ${spread(ratio('roster', 'check', 'perSecond'))} (the server around them).`,
    `Ratio req/s Roster / bare route: ${spread(ratio('roster', 'baseline', 'perSecond'))}.`,
  ]);
}

async function poolSize(databaseUrl: string, adminCookie: string) {
  // GET /auth/me through servers whose pools hold 10 connections (the default), 4 and 2, taking
  // turns. With few cores for PostgreSQL, fewer connections can serve more: postgres.js sends the
  // queries of concurrent requests one after another on a connection without waiting, and fewer
  // PostgreSQL processes take turns on the cores (docs/operations.md, DATABASE_POOL_SIZE).
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' });
  const sizes = [DEFAULT_DATABASE_POOL_SIZE, 4, 2];
  const nodes: { size: number; sql: Sql; server: RunningServer }[] = [];
  for (const size of sizes) {
    const sql = connect(databaseUrl, { max: size });
    nodes.push({ size, sql, server: await startServer({ config, sql, databaseUrl, log }) });
  }
  const rounds = await inRounds(
    Object.fromEntries(nodes.map(({ size, server }) => [size, (seconds: number) => httpLoad(`${server.url}/api/v1/auth/me`, { cookie: adminCookie }, 10, seconds)])),
  );
  for (const node of nodes) {
    await node.server.close();
    await node.sql.end();
  }
  const rows = sizes.map((size) => {
    const of = (field: 'perSecond' | 'p50' | 'p99' | 'errors') => rounds.map((round) => round[size]![field]);
    const isDefault = size === DEFAULT_DATABASE_POOL_SIZE;
    return [
      isDefault ? `${size} (default, baseline)` : size,
      spread(of('perSecond'), 0),
      median(of('p50')),
      median(of('p99')),
      isDefault ? '' : spread(rounds.map((round) => round[size]!.perSecond / round[DEFAULT_DATABASE_POOL_SIZE]!.perSecond)),
      of('errors').reduce((a, b) => a + b, 0),
    ];
  });
  table(
    `Pool size: Roster GET /api/v1/auth/me through ${sizes.join(', ')} database connections (10 clients; ${AUTH_ROUNDS} rounds of ${AUTH_SECONDS} s, medians)`,
    ['DATABASE_POOL_SIZE', 'req/s (lowest–highest)', 'p50 ms', 'p99 ms', 'req/s / the default, per round', 'errors'],
    rows,
  );
}

async function poolOverTime(databaseUrl: string) {
  // One query at a time, window after window: through a pool a burst has left with four connections
  // (one always waiting while another serves: postgres.js 3.4.9's queue of waiting connections then
  // grew by a slot per query, scripts/patch-postgres.mjs), and through a pool of one connection. The
  // two take turns in each window, so the machine's own drift shows in both.
  const windows = 6;
  const seconds = 2;
  const pools = { four: connect(databaseUrl, { max: 4 }), one: connect(databaseUrl, { max: 1 }) };
  await Promise.all(Array.from({ length: 4 }, () => pools.four`SELECT pg_sleep(0.05)`));
  const perSecond = { four: [] as number[], one: [] as number[] };
  for (let window = 0; window < windows; window++) {
    for (const name of window % 2 ? (['one', 'four'] as const) : (['four', 'one'] as const)) {
      const end = now() + seconds * 1000;
      let queries = 0;
      for (; now() < end; queries++) await pools[name]`SELECT 1`;
      perSecond[name].push(Math.round(queries / seconds));
    }
  }
  await Promise.all([pools.four.end(), pools.one.end()]);
  const ratios = perSecond.four.map((q, i) => q / perSecond.one[i]!);
  table(
    `The connection pool over time: one query at a time, queries/s in ${windows} windows of ${seconds} s`,
    ['pool', ...Array.from({ length: windows }, (_, i) => `window ${i + 1}`)],
    [
      ['four connections, three waiting', ...perSecond.four],
      ['one connection (baseline)', ...perSecond.one],
      ['ratio four / one', ...ratios.map((r) => r.toFixed(2))],
    ],
    [
      // One window against another swings with the machine; halves of the run swing less.
      `Ratio four / one, median of the last ${windows / 2} windows / median of the first ${windows / 2}: ${(median(ratios.slice(windows / 2)) / median(ratios.slice(0, windows / 2))).toFixed(2)} (a pool that keeps its pace stays near 1).`,
    ],
  );
}

async function signedInUsers(sql: Sql, prefix: string, count: number) {
  const users = await sql<{ id: string }[]>`
    INSERT INTO users (username, display_name, email, password_hash)
    SELECT ${prefix} || n, 'Signed In ' || n, ${prefix} || n || '@example.com', 'x' FROM generate_series(1, ${count}) n
    RETURNING id`;
  const tokens = users.map(() => generateSessionToken());
  const sessions = await sql<{ id: string }[]>`
    INSERT INTO sessions (token_hash, user_id, expires_at, ip, user_agent)
    SELECT hash, user_id, now() + interval '30 days', '127.0.0.1', 'bench'
    FROM unnest(${tokens.map(sha256Hex)}::text[], ${users.map((u) => u.id)}::uuid[]) WITH ORDINALITY AS t(hash, user_id, n)
    ORDER BY n
    RETURNING id`;
  return tokens.map((token, i) => ({ cookie: `roster_session=${token}`, id: sessions[i]!.id }));
}

async function forcedLogout(sql: Sql, databaseUrl: string, adminCookie: string) {
  const a = await startNode(databaseUrl);
  const b = await startNode(databaseUrl);
  const rows: (string | number)[][] = [];
  for (const [label, revokeThrough, prefix] of [
    ['one node (revoke through the node holding the socket)', a.url, 'logout-a-'],
    ['across two nodes (revoke through the other node)', b.url, 'logout-b-'],
  ] as const) {
    const sessions = await signedInUsers(sql, prefix, CLIENTS);
    const clients = await clientsProcess();
    await ask(clients, { type: 'connect', url: a.url, origin: a.url, cookies: sessions.map((s) => s.cookie), listen: 'session.ended' }, 'connected');
    await settle(1000);
    const started: number[] = [];
    for (const session of sessions) {
      started.push(now());
      await fetch(`${revokeThrough}/api/v1/sessions/${session.id}`, { method: 'DELETE', headers: { origin: revokeThrough, cookie: adminCookie } });
    }
    await settle(2000);
    const results = await ask<{ disconnects: { client: number; at: number }[] }>(clients, { type: 'collect' }, 'results');
    const latencies = results.disconnects.map((d) => d.at - started[d.client]!);
    rows.push([label, `${latencies.length} / ${CLIENTS}`, percentile(latencies, 50), percentile(latencies, 99)]);
    clients.kill();
  }
  for (const n of [a, b]) {
    n.node.child.kill('SIGTERM');
    await n.node.exited;
  }
  table(`Forced logout: revoke → socket closed, over ${CLIENTS} signed-in users' sockets (ms; revocations one after another)`, ['path', 'closed', 'p50', 'p99'], rows);
}

// ---- Run ----------------------------------------------------------------------------------------

async function main() {
  // As the server's own process does (server/src/main.ts): the baselines in this process run with it too.
  tuneGarbageCollector();
  // Other work on the machine shows in every figure: the header says how busy it was.
  const loadBefore = loadavg()[0]!;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'roster-bench-'));
  const postgres = await startEmbeddedPostgres(dataDir, log);
  const sql = connect(postgres.url, { max: 20 });
  try {
    await runMigrations(sql);
    const admin = await createUser(sql, cliActor, { username: 'bench-admin', display_name: 'Bench Admin', email: 'bench@example.com', role: 'admin', password: 'bench pass phrase' });
    const adminCookie = (await sessionsFor(sql, admin.id, 1))[0]!.cookie;
    // BENCH_ONLY=search,logout runs a subset (fanout, logout, auth, sessions, search, pool, poolsize).
    const only = process.env.BENCH_ONLY?.split(',');
    const want = (name: string) => !only || only.includes(name);
    if (want('fanout')) await fanOut(sql, postgres.url, admin.id, adminCookie);
    if (want('logout')) await forcedLogout(sql, postgres.url, adminCookie);
    if (want('auth')) await authCost(sql, postgres.url, adminCookie, admin.id);
    if (want('sessions')) await sessionsList(sql, postgres.url, adminCookie);
    if (want('search')) await search(sql, postgres.url, adminCookie);
    if (want('pool')) await poolOverTime(postgres.url);
    if (want('poolsize')) await poolSize(postgres.url, adminCookie);
  } finally {
    await sql.end();
    await postgres.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  const header = [
    `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}. Command: \`npm run bench\`` +
      (process.env.BENCH_ONLY ? ` with BENCH_ONLY=${process.env.BENCH_ONLY}` : '') +
      (process.env.BENCH_CLIENTS || process.env.BENCH_USERS ? ` (BENCH_CLIENTS=${CLIENTS} BENCH_USERS=${USERS})` : '') +
      '. PostgreSQL 18 (embedded), all on one machine.' +
      ` Load average (1 min) ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end.`,
  ].join('\n');
  await appendFile('BENCHMARKS.md', `\n${header}\n\n${sections.join('\n\n')}\n`);
  process.stdout.write('\nAppended to BENCHMARKS.md\n');
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
