import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Sql } from '../../server/src/database.ts';
import { ApiClient, LiveClient, createTestUser } from '../helpers/clients.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { startNode, stopNode, type Node } from '../helpers/nodes.ts';
import type { TestServer } from '../helpers/server.ts';

// Three real server processes on one database: events, presence and forced logouts cross nodes.

let sql: Sql;
let databaseUrl: string;
let nodes: Node[];
let admin: ApiClient;
const password = 'correct horse battery';
const open: LiveClient[] = [];

/** The admin's session, usable on every node (sessions live in the shared database). */
function on(node: Node, cookie = admin.cookie): ApiClient {
  const client = new ApiClient(node.target);
  client.cookie = cookie;
  return client;
}

async function live(node: Node, cookie: string | undefined, after?: number) {
  const client = await LiveClient.connect({ ...node.target, sql } as TestServer, cookie, after);
  open.push(client);
  return client;
}

async function eventIdsAfter(seq: number): Promise<number[]> {
  return (await sql`SELECT id FROM events WHERE id > ${seq} ORDER BY id`).map((r) => Number(r.id));
}

/** Creates users `<prefix>-0` … through `node`, one after the other. */
async function createUsersThrough(node: Node, prefix: string, count: number) {
  for (let i = 0; i < count; i++) {
    await on(node).post('/api/v1/users', { username: `${prefix}-${i}`, display_name: `${prefix} ${i}`, email: `${prefix}-${i}@example.com`, generate_password: true });
  }
}

/** The client receives every event committed after `seq`, in order, once each. */
async function expectEventsAfter(client: LiveClient, seq: number, what: string) {
  const expected = await eventIdsAfter(seq);
  await client.until(() => client.lastSeq >= expected.at(-1)!, what);
  expect(client.events.map((e) => e.seq)).toEqual(expected);
}

beforeAll(async () => {
  ({ sql, url: databaseUrl } = await createTestDatabase());
  nodes = await Promise.all([startNode(databaseUrl), startNode(databaseUrl), startNode(databaseUrl)]);
  const root = await createTestUser({ sql } as TestServer, { role: 'admin', username: 'root', password });
  admin = new ApiClient(nodes[0]!.target);
  await admin.signIn(root.username, password);
}, 60_000);

afterAll(async () => {
  for (const client of open) client.close();
  await Promise.all(nodes.map((node) => stopNode(node)));
  await sql.end();
});

describe('three nodes', () => {
  test('changes made through node A reach clients on B and C in order, with no gaps', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const onB = await live(b, admin.cookie);
    const onC = await live(c, admin.cookie);
    const start = onB.lastSeq;
    await createUsersThrough(a, 'cross', 10);
    for (const watcher of [onB, onC]) await expectEventsAfter(watcher, start, 'all events');
  });

  test('deactivating a user through node A closes their socket on node C; their next request is refused on every node', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const user = await createTestUser({ sql } as TestServer, { password });
    const userClient = new ApiClient(c.target);
    await userClient.signIn(user.username, password);
    const watcher = await live(c, userClient.cookie);
    await on(a).patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' });
    expect(await watcher.disconnected()).toBe('io server disconnect');
    expect(watcher.ended).toEqual({ reason: 'deactivated' });
    for (const node of [a, b, c]) expect((await on(node, userClient.cookie).get('/api/v1/auth/me')).status).toBe(401);
  });

  test('a client switching from node A to node B resumes without gaps or repeats', async () => {
    const [a, b] = nodes as [Node, Node, Node];
    const first = await live(a, admin.cookie);
    await on(b).post('/api/v1/users', { username: 'before-switch', display_name: 'B', email: 'before-switch@example.com', generate_password: true });
    await first.event((e) => e.target_label === 'before-switch', 'event before the switch');
    const seen = first.lastSeq;
    first.close();
    await createUsersThrough(a, 'during-switch', 3);
    await expectEventsAfter(await live(b, admin.cookie, seen), seen, 'the replay');
  });

  test('presence crosses nodes', async () => {
    const [a, b] = nodes as [Node, Node, Node];
    const other = await createTestUser({ sql } as TestServer, { role: 'admin', password });
    const otherClient = new ApiClient(b.target);
    await otherClient.signIn(other.username, password);
    const watcherA = await live(a, admin.cookie);
    const watcherB = await live(b, otherClient.cookie);
    const target = await createTestUser({ sql } as TestServer);
    watcherB.socket.emit('presence', { viewing: target.id });
    const presence = await watcherA.until(() => watcherA.presence.find((p) => p.viewing[target.id]?.includes(other.id)), 'presence from node B');
    expect(presence.online.map((u) => u.id)).toEqual(expect.arrayContaining([other.id]));
  });

  // A connection on node A reaches node B's count a moment later; a push B sends meanwhile (after a
  // change made through it) carries the old count, with a seq as new as A's push.
  test('the stats cards settle on the right online count on every node while people connect on another', { timeout: 60_000 }, async () => {
    const [a, b] = nodes as [Node, Node, Node];
    const watcherB = await live(b, admin.cookie);
    const plain = await createTestUser({ sql } as TestServer, { password });
    const plainClient = new ApiClient(a.target);
    await plainClient.signIn(plain.username, password);
    const wrong: { round: number; shown: number; online: number }[] = [];
    for (let round = 0; round < 8; round++) {
      const socket = await live(a, plainClient.cookie);
      await on(b).post('/api/v1/users', { username: `online-${round}`, display_name: `Online ${round}`, email: `online-${round}@example.com`, generate_password: true });
      await new Promise((resolve) => setTimeout(resolve, 1200)); // every push of this round has come
      const { online } = (await on(b).get('/api/v1/users/stats')).body as { online: number };
      const shown = watcherB.stats.at(-1)!.online;
      if (shown !== online) wrong.push({ round, shown, online });
      socket.socket.close();
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
    expect(wrong).toEqual([]);
  });

  test('who is connected crosses nodes: online on B shows on A, and a node that dies takes its connections with it', { timeout: 60_000 }, async () => {
    const [a] = nodes as [Node, Node, Node];
    const victim = await startNode(databaseUrl);
    const plain = await createTestUser({ sql } as TestServer, { password });
    const plainClient = new ApiClient(victim.target);
    await plainClient.signIn(plain.username, password);
    const watcherA = await live(a, admin.cookie);
    await live(victim, plainClient.cookie);
    const { session } = (await plainClient.get('/api/v1/auth/me')).body;
    const onlineThroughA = async () => (await on(a).get(`/api/v1/sessions?user_id=${plain.id}`)).body.items[0]?.online;
    await expect.poll(onlineThroughA, { timeout: 5000 }).toBe(true);
    await watcherA.until(() => watcherA.connections.some((c) => c.online.some(([, id]) => id === session.id)), 'the connection on node A');
    await stopNode(victim, 'SIGKILL');
    // A node is forgotten 15 s after it last said which sessions it holds.
    await expect.poll(onlineThroughA, { timeout: 30_000, interval: 1000 }).toBe(false);
    await watcherA.until(() => watcherA.connections.some((c) => c.offline.some(([, id]) => id === session.id)), 'the dead node\'s connection gone', 30_000);
  });
});

describe('faults', () => {
  test('a node killed with SIGKILL: its clients reconnect to another node and resume; nothing is lost', async () => {
    const victim = await startNode(databaseUrl);
    const survivor = nodes[1]!;
    const watcher = await live(victim, admin.cookie);
    await on(survivor).post('/api/v1/users', { username: 'pre-kill', display_name: 'P', email: 'pre-kill@example.com', generate_password: true });
    await watcher.event((e) => e.target_label === 'pre-kill', 'event before the kill');
    const seen = watcher.lastSeq;
    await stopNode(victim, 'SIGKILL');
    await watcher.disconnected();
    // Until the survivors notice the node is gone, cluster-wide socket queries get no answer from
    // it: reads that show who is online still answer, from the nodes that do.
    for (const path of ['/api/v1/users/stats', '/api/v1/sessions']) expect((await on(survivor).get(path)).status).toBe(200);
    await createUsersThrough(survivor, 'post-kill', 3);
    await expectEventsAfter(await live(survivor, admin.cookie, seen), seen, 'the replay after the kill');
  });

  test('SIGTERM drains: in-flight requests finish, sockets are told and closed, the process exits 0', async () => {
    const draining = await startNode(databaseUrl);
    const watcher = await live(draining, admin.cookie);
    let told = false;
    watcher.socket.on('server.draining', () => (told = true));
    // A request in flight when the signal arrives (argon2 hashing keeps it busy for a moment).
    const inFlight = on(draining).post('/api/v1/users', { username: 'in-flight', display_name: 'I', email: 'in-flight@example.com', password: 'a long passphrase' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    draining.process.child.kill('SIGTERM');
    const response = await inFlight;
    expect(response.status).toBe(201);
    // The engine closes under the socket ("transport close"), which clients retry by themselves.
    expect(['transport close', 'io server disconnect']).toContain(await watcher.disconnected());
    expect(told).toBe(true);
    expect(await draining.process.exited).toBe(0);
    await expect(fetch(`${draining.target.url}/healthz`)).rejects.toThrow();
  });
});
