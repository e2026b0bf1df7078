import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Sql } from '../../server/src/database.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { startNode, stopNode, type Node } from '../helpers/nodes.ts';
import type { TestServer } from '../helpers/server.ts';

// SIGTERM while requests are in flight: every request the server was sent gets its whole
// response, connections opened after draining began are refused cleanly, and the process exits 0.
// It is a race, so the scenario runs several rounds.

const ROUNDS = 5;
const IN_FLIGHT = 30;
const password = 'correct horse battery';

let sql: Sql;
let databaseUrl: string;
let username: string;
let node: Node | undefined;

beforeAll(async () => {
  ({ sql, url: databaseUrl } = await createTestDatabase());
  username = (await createTestUser({ sql } as TestServer, { role: 'admin', password })).username;
});

afterAll(async () => {
  if (node) await stopNode(node, 'SIGKILL');
  await sql.end();
});

type Outcome =
  | { kind: 'response'; status: number; connection: string | undefined }
  | { kind: 'refused' }
  | { kind: 'reset'; error: string };

interface Sent {
  /** Resolves once the request is on a connected socket, entirely written. */
  sent: Promise<void>;
  outcome: Promise<Outcome>;
}

/** One HTTP request on a connection of its own (or `agent`'s), reporting how it ended. */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: unknown, agent: Agent | false = false): Sent {
  const target = new URL(path, url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  let markSent!: () => void;
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const outcome = new Promise<Outcome>((resolve) => {
    const req = request(target, { method, agent, headers: { ...headers, ...(payload && { 'content-type': 'application/json' }) } });
    let connected = false;
    let written = false;
    const check = () => connected && written && markSent();
    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => ((connected = true), check()));
      check();
    });
    req.on('finish', () => ((written = true), check()));
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ kind: 'response', status: res.statusCode!, connection: res.headers.connection }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'reset', error: error.code ?? error.message }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      markSent();
      resolve(error.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'reset', error: error.code ?? error.message });
    });
    req.end(payload);
  });
  return { sent, outcome };
}

const describeOutcome = (o: Outcome) => (o.kind === 'response' ? `${o.status}` : o.kind === 'reset' ? `reset (${o.error})` : 'refused');
const tally = (outcomes: Outcome[]) =>
  `${outcomes.length} (${outcomes.filter((o) => o.kind === 'response').length} served, ${outcomes.filter((o) => o.kind === 'reset').length} cut)`;

interface Round {
  inFlight: Outcome[];
  keepAlive: Outcome[];
  late: Outcome[];
  exitCode: number | null;
}

async function drainRound(round: number): Promise<Round> {
  node = await startNode(databaseUrl);
  const url = node.target.url;
  const admin = new ApiClient(node.target);
  await admin.signIn(username, password);
  const headers = { cookie: admin.cookie!, origin: node.target.origin };

  // A keep-alive client with one warm connection, sending one request after the other.
  const keepAliveAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  expect((await send(url, 'GET', '/api/v1/auth/me', headers, undefined, keepAliveAgent).outcome).kind).toBe('response');
  const first = send(url, 'GET', '/api/v1/users?limit=100', headers, undefined, keepAliveAgent);

  // Slow (argon2 hashing in a transaction) and quick requests, each on its own connection.
  const requests: Sent[] = [];
  for (let i = 0; i < IN_FLIGHT; i++) {
    const n = `${round}-${i}`;
    if (i % 3 === 0) {
      requests.push(send(url, 'POST', '/api/v1/users', headers, { username: `drain-${n}`, display_name: 'D', email: `drain-${n}@example.com`, generate_password: true }));
    } else {
      requests.push(send(url, 'GET', i % 3 === 1 ? '/api/v1/users?limit=100' : '/api/v1/auth/me', headers));
    }
  }
  await Promise.all([...requests, first].map((r) => r.sent));

  const exited = node.process.exited;
  let running = true;
  void exited.then(() => (running = false));
  node.process.child.kill('SIGTERM');

  // While the node drains, the keep-alive client goes on (it must be told to stop reusing its
  // connection), and new connections keep coming: each is served or refused, never cut.
  const untilRefused = async (next: () => Promise<Outcome>, outcomes: Outcome[]) => {
    while (running && !outcomes.some((o) => o.kind === 'refused')) {
      outcomes.push(await next());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return outcomes;
  };
  const [keepAlive, late] = await Promise.all([
    untilRefused(() => send(url, 'GET', '/api/v1/users?limit=100', headers, undefined, keepAliveAgent).outcome, [await first.outcome]),
    untilRefused(() => send(url, 'GET', '/healthz', {}).outcome, []),
  ]);

  const result = {
    inFlight: await Promise.all(requests.map((r) => r.outcome)),
    keepAlive,
    late,
    exitCode: await exited,
  };
  keepAliveAgent.destroy();
  node = undefined;
  return result;
}

describe('SIGTERM under load', () => {
  test(`${IN_FLIGHT} requests in flight all finish, new connections are refused cleanly, exit 0 (${ROUNDS} rounds)`, { timeout: 240_000 }, async () => {
    const problems: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const { inFlight, keepAlive, late, exitCode } = await drainRound(round);
      const cut = inFlight.filter((o) => o.kind !== 'response' || o.status >= 300);
      const keepAliveCut = keepAlive.filter((o) => o.kind === 'reset' || (o.kind === 'response' && o.status >= 300));
      const lateCut = late.filter((o) => o.kind === 'reset');
      console.log(`round ${round}: in flight ${inFlight.map(describeOutcome).join(' ')}; keep-alive ${tally(keepAlive)}; new connections ${tally(late)}; exit ${exitCode}`);
      if (cut.length > 0) problems.push(`round ${round}: ${cut.length}/${IN_FLIGHT} in flight not answered: ${cut.map(describeOutcome).join(', ')}`);
      if (keepAliveCut.length > 0) problems.push(`round ${round}: keep-alive requests ${keepAliveCut.map(describeOutcome).join(', ')}`);
      if (!keepAlive.some((o) => o.kind === 'refused')) problems.push(`round ${round}: the keep-alive client was never refused`);
      if (lateCut.length > 0) problems.push(`round ${round}: ${lateCut.length} new connections cut: ${lateCut.map(describeOutcome).join(', ')}`);
      if (!late.some((o) => o.kind === 'refused')) problems.push(`round ${round}: no new connection was refused before the process exited`);
      if (exitCode !== 0) problems.push(`round ${round}: exit code ${exitCode}`);
    }
    expect(problems).toEqual([]);
  });
});
