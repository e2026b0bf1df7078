import net from 'node:net';
import { assert, describe, expect, test } from 'vitest';
import { LiveClient, connectSocket, createTestUser, latestSeq, signedInClient, useSignedInClient, websocketUpgrade } from '../helpers/clients.ts';
import { type TestServer, useTestServer } from '../helpers/server.ts';

// What one connection may cost the server, and what the feed tells whom.

const server = useTestServer();
const admin = useSignedInClient(server, { role: 'admin' });

describe('a flood of messages', () => {
  test('2,000 messages from one plain user: the excess is dropped, the socket cut off, nobody else notices', async () => {
    const { client } = await signedInClient(server);
    const attacker = await LiveClient.connect(server, client.cookie);
    const bystander = await LiveClient.connect(server, admin.cookie);
    const emit = attacker.socket.emit.bind(attacker.socket) as (event: string, ...args: unknown[]) => void;
    for (let i = 0; i < 2000; i++) {
      emit('resume', { after: 0 }, () => undefined);
      emit('presence', { viewing: null });
    }
    expect(await attacker.disconnected()).toBe('io server disconnect');
    // Nothing was replayed to it, whatever it asked for.
    expect(attacker.events).toEqual([]);
    const during = await admin.get('/api/v1/users/stats');
    expect(during.status).toBe(200);
    const user = await createTestUser(server);
    await bystander.event((e) => e.target_id === user.id, 'event after the flood');
    bystander.close();
  });

  test('a session may hold a bounded number of connections on a node', async () => {
    const { client, user } = await signedInClient(server);
    const sockets = [];
    for (let i = 0; i < 20; i++) sockets.push(await connectSocket(server, { cookie: client.cookie }));
    await expect(connectSocket(server, { cookie: client.cookie })).rejects.toThrow('too_many_connections');
    sockets.pop()!.close();
    // The server counts the session's sockets when it has seen the close, not when the client sent it.
    await expect.poll(() => [...server.live.io.of('/').sockets.values()].filter((s) => s.data.user.id === user.id).length).toBe(19);
    sockets.push(await connectSocket(server, { cookie: client.cookie }));
    for (const socket of sockets) socket.close();
  });
});

describe('handshakes at once', () => {
  test('200 websockets of one session writing their handshakes together: no more than 20 connect', async () => {
    const { client, user } = await signedInClient(server);
    const raws = await Promise.all(Array.from({ length: 200 }, () => openedWebsocket(server, client.cookie!)));
    const answers = raws.map((raw) => {
      let received = '';
      return new Promise<string>((resolve) => {
        raw.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (received.includes('40{"sid"')) resolve('connected');
          else if (received.includes('44{')) resolve(received.match(/"code":"(\w+)"/)?.[1] ?? received);
        });
      });
    });
    for (const raw of raws) raw.write(maskedTextFrame('40'));
    const outcomes = await Promise.all(answers);
    const open = [...server.live.io.of('/').sockets.values()].filter((s) => s.data.user.id === user.id).length;
    for (const raw of raws) raw.destroy();
    expect(open).toBe(20);
    expect(outcomes.filter((o) => o === 'connected')).toHaveLength(20);
    expect(new Set(outcomes.filter((o) => o !== 'connected'))).toEqual(new Set(['too_many_connections']));
  });

  test('2,000 handshakes written at once on one websocket: the connection is closed, no socket is added', async () => {
    // Socket.IO takes a namespace's CONNECT again until one has succeeded, and the message limit
    // counts only events: each of these ran a handshake (a read of the session) at once.
    const { client, user } = await signedInClient(server);
    const raw = await openedWebsocket(server, client.cookie!);
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.write(Buffer.concat(Array.from({ length: 2000 }, () => maskedTextFrame('40'))));
    await closed;
    const open = [...server.live.io.of('/').sockets.values()].filter((s) => s.data.user.id === user.id);
    expect(open).toHaveLength(0);
    // One handshake at a time, as the console makes them, still connects.
    const honest = await connectSocket(server, { cookie: client.cookie });
    honest.close();
  });

  test('connections cut off for a second handshake leave no socket behind, signed in or not', async () => {
    // Socket.IO holds each socket from its CONNECT until the handshake answers, for good if it never does.
    const connecting = (server.live.io.of('/') as unknown as { _preConnectSockets: Map<string, unknown> })._preConnectSockets;
    const { client } = await signedInClient(server);
    for (let round = 0; round < 30; round++) {
      const raw = await openedWebsocket(server, round % 2 ? client.cookie : undefined);
      const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
      raw.write(Buffer.concat([maskedTextFrame('40'), maskedTextFrame('40')]));
      await closed;
    }
    await expect.poll(() => connecting.size).toBe(0);
  });
});

describe('a client that leaves during its handshake', () => {
  test('its socket, admitted once the session read finishes, does not count against the session afterwards', async () => {
    const { client } = await signedInClient(server);
    const raw = await openedWebsocket(server, client.cookie!);
    const connections = server.live.io.engine.clientsCount;
    // The session read waits behind a lock until the client has gone.
    await server.sql.begin(async (tx) => {
      await tx`LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`;
      raw.write(maskedTextFrame('40'));
      await expect
        .poll(async () => (await server.sql`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%token_hash%'`).length)
        .toBe(1);
      raw.destroy();
      await expect.poll(() => server.live.io.engine.clientsCount).toBe(connections - 1);
    });
    // The session may still hold its 20 connections.
    const sockets = await Promise.allSettled(Array.from({ length: 20 }, () => connectSocket(server, { cookie: client.cookie })));
    for (const socket of sockets) if (socket.status === 'fulfilled') socket.value.close();
    expect(sockets.map((socket) => (socket.status === 'fulfilled' ? 'connected' : String(socket.reason)))).toEqual(Array(20).fill('connected'));
  });
});

describe('a client that will not read', () => {
  test('is disconnected once what waits for it passes the bound; others keep streaming', { timeout: 60_000 }, async () => {
    const { client: staffHttp, user: staffUser } = await signedInClient(server, { role: 'moderator' });
    await stalledSocket(server, staffHttp.cookie!);
    const connectionsOfStuck = () => [...server.live.io.of('/').sockets.values()].filter((s) => s.data.user.id === staffUser.id).length;
    expect(connectionsOfStuck()).toBe(1);
    const bystander = await LiveClient.connect(server, admin.cookie);
    // Events with large payloads, written as another process (a migration, the CLI) would.
    const padding = 'x'.repeat(20_000);
    const before = await latestSeq(server);
    for (let batch = 0; batch < 10; batch++) {
      await server.sql`
        INSERT INTO events (actor_label, action, target_type, target_id, target_label, data)
        SELECT 'load', 'auth.login_failed', 'user', gen_random_uuid()::text, 'load-' || n, jsonb_build_object('padding', ${padding}::text)
        FROM generate_series(1, 100) n`;
      await server.sql`SELECT pg_notify('roster_events', 'load')`;
    }
    const last = await latestSeq(server);
    await bystander.until(() => bystander.lastSeq >= last, 'every load event at the reading client', 30_000);
    expect(bystander.events.filter((e) => e.seq > before)).toHaveLength(last - before);
    await expect.poll(connectionsOfStuck, { timeout: 30_000 }).toBe(0);
    bystander.close();
  });
});

describe('sessions that end without an event', () => {
  // A server of their own: its sweep ends every session idle for a minute, and on a slow machine
  // the file's admin has been signed in for longer than that when these run.
  const idleServer = useTestServer({ env: { SESSION_IDLE_MINUTES: '1' } });

  test('an idle session\'s socket is ended with session.ended {reason: "expired"}', async () => {
    const { client } = await signedInClient(idleServer);
    const watcher = await LiveClient.connect(idleServer, client.cookie);
    const { session } = (await client.get('/api/v1/auth/me')).body;
    // The socket's own traffic is not use: only requests keep a session alive.
    await idleServer.sql`UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE id = ${session.id}`;
    await idleServer.live.sweepSessions();
    expect(await watcher.disconnected()).toBe('io server disconnect');
    expect(watcher.ended).toEqual({ reason: 'expired' });
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('a session past its absolute lifetime is ended the same way', async () => {
    const { client } = await signedInClient(idleServer);
    const watcher = await LiveClient.connect(idleServer, client.cookie);
    const { session } = (await client.get('/api/v1/auth/me')).body;
    await idleServer.sql`UPDATE sessions SET created_at = now() - interval '31 days' WHERE id = ${session.id}`;
    await idleServer.live.sweepSessions();
    await watcher.disconnected();
    expect(watcher.ended).toEqual({ reason: 'expired' });
  });
});

describe('what each audience is told', () => {
  test('a plain user\'s own events carry no admin identity or client address', async () => {
    const { client, user } = await signedInClient(server);
    const watcher = await LiveClient.connect(server, client.cookie);
    const staff = await LiveClient.connect(server, admin.cookie);
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, display_name: 'Renamed' });
    const own = await watcher.event((e) => e.action === 'user.updated' && e.target_id === user.id, 'own update');
    expect(own.ip).toBeNull();
    expect(own.actor).toEqual({ id: null, label: null });
    assert(own.action === 'user.updated');
    expect(own.data.user).toMatchObject({ id: user.id, display_name: 'Renamed' });
    // Staff see the same event whole.
    const whole = await staff.event((e) => e.seq === own.seq, 'the same event for staff');
    expect(whole.ip).toBeTruthy();
    expect(whole.actor.label).toBeTruthy();
    // The replay gives the same view.
    const replay = await LiveClient.connect(server, client.cookie, own.seq - 1);
    const replayed = await replay.event((e) => e.seq === own.seq, 'the replayed update');
    expect(replayed).toEqual(own);
    for (const socket of [watcher, staff, replay]) socket.close();
  });

  test('a project member is told the project, not the owner\'s totals over projects hidden from them', async () => {
    const owner = await createTestUser(server);
    const { client: memberClient, user: member } = await signedInClient(server);
    const hidden = await admin.post('/api/v1/projects', { name: 'Owner only', owner_id: owner.id, size_bytes: 5_000_000 });
    expect(hidden.status).toBe(201);
    const watcher = await LiveClient.connect(server, memberClient.cookie);
    const shared = await admin.post('/api/v1/projects', { name: 'Shared', owner_id: owner.id, size_bytes: 1000, member_ids: [member.id] });
    const event = await watcher.event((e) => e.action === 'project.created' && e.target_id === shared.body.project.id, 'shared project');
    assert(event.action === 'project.created');
    expect(event.data.project).toMatchObject({ name: 'Shared' });
    expect(event.data.owners).toEqual([]);
    expect(event.data).not.toHaveProperty('audience');
    expect(JSON.stringify(event)).not.toContain('5000000');
    watcher.close();
  });
});

/**
 * A Socket.IO connection over a bare TCP socket that completes the handshake and then stops
 * reading, as a client that leaves the server to buffer for it would.
 */
async function stalledSocket(target: TestServer, cookie: string): Promise<net.Socket> {
  const socket = await openedWebsocket(target, cookie);
  let received = '';
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('40{"sid"')) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    // Join the namespace, then wait for its answer.
    socket.write(maskedTextFrame('40'));
  });
  socket.pause();
  return socket;
}

/** A websocket over a bare TCP socket, once the engine's open packet has arrived: the next frame is the test's. */
async function openedWebsocket(target: TestServer, cookie: string | undefined): Promise<net.Socket> {
  const socket = websocketUpgrade(target, cookie);
  socket.on('error', () => undefined);
  let received = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (!received.includes('"sid"')) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData).once('error', reject);
  });
  return socket;
}

/** A client-to-server websocket text frame (clients must mask; a zero key leaves the bytes as they are). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}
