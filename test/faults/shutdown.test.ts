import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Sql } from '../../server/src/database.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { startNode, stopNode, type Node } from '../helpers/nodes.ts';
import type { TestServer } from '../helpers/server.ts';

// SIGTERM while requests are in flight: every request the server was sent gets its whole
// response, keep-alive clients are told to close, connections opened once the node stopped
// listening are refused cleanly, and the process exits 0. It is a race, so it runs several rounds.

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

const describeOutcome = (o: Outcome) =>
  o.kind === 'response' ? `${o.status}${o.connection === 'close' ? ' (close)' : ''}` : o.kind === 'reset' ? `reset (${o.error})` : 'refused';

interface Round {
  inFlight: Outcome[];
  /** A keep-alive client's request answered while the node drained, then its next request. */
  keepAlive: Outcome[];
  /** A new connection once the node said it stopped listening. */
  afterClose: Outcome;
  exitCode: number | null;
  exitMs: number;
}

async function drainRound(round: number): Promise<Round> {
  node = await startNode(databaseUrl, { LOG_LEVEL: 'info' });
  const url = node.target.url;
  const admin = new ApiClient(node.target);
  await admin.signIn(username, password);
  const headers = { cookie: admin.cookie!, origin: node.target.origin };
  const createUser = (n: string, agent: Agent | false = false) =>
    send(url, 'POST', '/api/v1/users', headers, { username: `drain-${n}`, display_name: 'D', email: `drain-${n}@example.com`, generate_password: true }, agent);

  // A keep-alive client with one warm connection.
  const keepAliveAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  expect((await send(url, 'GET', '/api/v1/auth/me', headers, undefined, keepAliveAgent).outcome).kind).toBe('response');

  // Slow (argon2 hashing in a transaction) and quick requests, each on its own connection, and
  // the keep-alive client's slow request, hashed last.
  const requests: Sent[] = [];
  for (let i = 0; i < IN_FLIGHT; i++) {
    if (i % 3 === 0) requests.push(createUser(`${round}-${i}`));
    else requests.push(send(url, 'GET', i % 3 === 1 ? '/api/v1/users?limit=100' : '/api/v1/auth/me', headers));
  }
  const keepAliveSlow = createUser(`${round}-keep-alive`, keepAliveAgent);
  await Promise.all([...requests, keepAliveSlow].map((r) => r.sent));

  const signalled = performance.now();
  node.process.child.kill('SIGTERM');
  // A node that exits without saying so fails on what follows, with every outcome shown.
  await node.process.waitFor(/stopped accepting connections/).catch(() => undefined);
  const afterClose = await send(url, 'GET', '/healthz', {}).outcome;
  const keepAlive = [await keepAliveSlow.outcome];
  keepAlive.push(await send(url, 'GET', '/api/v1/auth/me', headers, undefined, keepAliveAgent).outcome);

  const result = {
    inFlight: await Promise.all(requests.map((r) => r.outcome)),
    keepAlive,
    afterClose,
    exitCode: await node.process.exited,
    exitMs: performance.now() - signalled,
  };
  keepAliveAgent.destroy();
  node = undefined;
  return result;
}

describe('SIGTERM under load', () => {
  test(`${IN_FLIGHT} requests in flight all finish, new connections are refused cleanly, exit 0 (${ROUNDS} rounds)`, { timeout: 240_000 }, async () => {
    const problems: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const { inFlight, keepAlive, afterClose, exitCode, exitMs } = await drainRound(round);
      console.log(
        `round ${round}: in flight ${inFlight.map(describeOutcome).join(' ')}; keep-alive ${keepAlive.map(describeOutcome).join(', ')}; ` +
          `new connection after close ${describeOutcome(afterClose)}; exit ${exitCode} after ${Math.round(exitMs)} ms`,
      );
      const cut = inFlight.filter((o) => o.kind !== 'response' || o.status >= 300);
      if (cut.length > 0) problems.push(`round ${round}: ${cut.length}/${IN_FLIGHT} in flight not answered: ${cut.map(describeOutcome).join(', ')}`);
      const [slow, next] = keepAlive as [Outcome, Outcome];
      if (slow.kind !== 'response' || slow.status !== 201 || slow.connection !== 'close') {
        problems.push(`round ${round}: keep-alive request answered while draining: ${describeOutcome(slow)}, not 201 with Connection: close`);
      }
      if (next.kind !== 'refused') problems.push(`round ${round}: the keep-alive client's next request: ${describeOutcome(next)}, not refused`);
      if (afterClose.kind !== 'refused') problems.push(`round ${round}: a new connection once the node stopped listening: ${describeOutcome(afterClose)}`);
      if (exitCode !== 0) problems.push(`round ${round}: exit code ${exitCode}`);
    }
    expect(problems).toEqual([]);
  });
});
