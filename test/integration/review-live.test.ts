import { io } from 'socket.io-client';
import { describe, expect, test } from 'vitest';
import type { Sql } from 'postgres';
import { connect } from '../../server/src/database.ts';
import { ApiClient, LiveClient, connectSocket, createTestUser, latestSeq, signedInClient, useSignedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

// Findings of the outside review (branch `review`) on the live channel: connections that outlive
// what their session may see, and a replay queue a plain user can fill. Real sockets throughout.

const server = useTestServer();
const admin = useSignedInClient(server, { role: 'admin' });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a change fanned out while a handshake reads the session', () => {
  // Guarantee: events are shaped per audience, and a role change applies to open connections at
  // once. The handshake reads the user, then the socket joins the fan-out; a demotion whose event
  // was fanned out in between reached no socket of that user, so the new socket kept the staff view
  // (every event whole, stats, presence) for as long as it stayed open. The interleaving is made
  // certain here by holding the session row the handshake touches, as a slow database would.
  test('an admin demoted during the handshake does not keep the staff view', { timeout: 30_000 }, async () => {
    const { client, user } = await signedInClient(server, { role: 'admin' });
    const { session } = (await client.get('/api/v1/auth/me')).body;
    // A session last seen over a minute ago: the handshake writes last_seen_at (without waiting for
    // it since the session check became one query, so the connection may open before or after the
    // demotion: either way it must end up with a plain user's view).
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE id = ${session.id}`;
    const staff = await LiveClient.connect(server, admin.cookie);
    const holder: Sql = connect(server.databaseUrl, { max: 1 });
    let release!: () => void;
    const held = holder.begin(async (tx) => {
      await tx`SELECT 1 FROM sessions WHERE id = ${session.id} FOR UPDATE`;
      await new Promise<void>((resolve) => (release = resolve));
    });
    try {
      await pause(100);
      const connecting = LiveClient.connect(server, client.cookie);
      await expect
        .poll(async () => (await server.sql`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE sessions SET last_seen_at%'`).length)
        .toBe(1);
      expect((await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, role: 'user' })).status).toBe(200);
      await staff.event((e) => e.action === 'user.updated' && e.target_id === user.id, 'the demotion, fanned out');
      release();
      await held;
      const demoted = await connecting;
      // Statistics sent while the connection was still an admin's (it may have opened first) are not the question.
      await pause(300);
      const statsBefore = demoted.stats.length;

      const stranger = await createTestUser(server);
      await staff.event((e) => e.action === 'user.created' && e.target_id === stranger.id, 'a user created after the demotion');
      await pause(500);
      expect(demoted.events.filter((e) => e.target_id === stranger.id), 'another user\'s event reached the demoted admin').toEqual([]);
      expect(demoted.stats.slice(statsBefore), 'staff statistics reached the demoted admin').toEqual([]);
      demoted.close();
    } finally {
      release?.();
      await held.catch(() => undefined);
      await holder.end();
      staff.close();
    }
  });
});

describe('a password an admin set while the sessions were kept', () => {
  // Guarantee: until the user has chosen their own password every route answers
  // password_change_required and the live channel refuses the connection. A reset with
  // `revoke_sessions: false` left the user's open connections streaming: a moderator whose password
  // was reset kept receiving every event, whole, while every HTTP request was refused.
  test("the user's open connections stop streaming, and reconnecting is refused", { timeout: 30_000 }, async () => {
    const { client, user } = await signedInClient(server, { role: 'moderator' });
    const watcher = await LiveClient.connect(server, client.cookie);
    expect((await admin.put(`/api/v1/users/${user.id}/password`, { password: 'set by the admin now', revoke_sessions: false })).status).toBe(200);
    expect((await client.get('/api/v1/users')).body.error.code).toBe('password_change_required');
    expect(await watcher.disconnected()).toBe('io server disconnect');
    const stranger = await createTestUser(server);
    await pause(500);
    expect(watcher.events.filter((e) => e.target_id === stranger.id), 'an event streamed after the reset').toEqual([]);
    await expect(connectSocket(server, { cookie: client.cookie })).rejects.toThrow('password_change_required');
    watcher.close();
  });
});

describe('a connection opened with a token that was replaced', () => {
  // Guarantee (ASVS 7.2.4): confirming or changing the password replaces the session's token and the
  // old one stops working at once. It stops working for HTTP, but a socket opened with it stays: the
  // live channel knows sessions by id, and the id goes on. Whoever stole an admin's cookie and
  // opened a connection keeps the whole audit feed after the admin changed the password ("ends all
  // other sessions"), for as long as the admin keeps using the session. NOT FIXED: the design keeps a
  // rotated session's open connections on purpose (docs/security.md, "Rotation"); see the report.
  test('after a password change, the connection opened with the old token is closed', { timeout: 30_000 }, async () => {
    const { client, user } = await signedInClient(server, { role: 'admin' });
    const stolen = client.cookie;
    const thief = await LiveClient.connect(server, stolen);
    try {
      expect((await client.put('/api/v1/me/password', { current_password: user.password, new_password: 'a new secret phrase' })).status).toBe(200);
      const replay = new ApiClient(server);
      replay.cookie = stolen;
      expect((await replay.get('/api/v1/auth/me')).status).toBe(401);
      await server.live.sweepSessions();
      expect(await thief.disconnected()).toBe('io server disconnect');
      const stranger = await createTestUser(server);
      await pause(500);
      expect(thief.events.filter((e) => e.target_id === stranger.id), 'an event reached the old token').toEqual([]);
    } finally {
      thief.close();
    }
  });
});

describe('the replay queue', () => {
  // Guarantee: at most 8 replays run at once per node. They do, but the queue behind them has no
  // bound and each queued replay ran its query even when its socket had long gone. A plain user's
  // replay filters events by user, which reads the whole audit log from the resume point: a plain
  // user opening sockets with `after: 0` and closing them at once queued full scans of the log
  // that every resuming client then waited behind (100 such sockets over 300,000 events: a staff
  // resume took 2.2 s instead of 26 ms).
  test('a replay whose socket has gone reads nothing', { timeout: 120_000 }, async () => {
    const { client, user } = await signedInClient(server);
    // The feed's queries, watched: a plain user's replay is the only query filtering on `audience`.
    // Each is held until `release()`, as a long read of a large log would be (without holding a
    // connection meanwhile), so the replays that run take long and the rest queue behind them.
    const feed = (server.live as unknown as { feed: { sql: Sql } }).feed;
    const original = feed.sql;
    let release!: () => void;
    const slowLog = new Promise<void>((resolve) => (release = resolve));
    let plainReplays = 0;
    let nextIsReplay = false;
    feed.sql = new Proxy(original, {
      apply(target, self, args: unknown[]) {
        const text = Array.isArray(args[0]) ? (args[0] as string[]).join('') : '';
        if (text.includes("data->'audience' ?")) {
          plainReplays += 1;
          nextIsReplay = true; // the fragment comes first, then the query that embeds it
        } else if (nextIsReplay && text.includes('FROM events')) {
          nextIsReplay = false;
          return { then: (resolve: never, reject: never) => slowLog.then(() => Reflect.apply(target as never, self, args)).then(resolve, reject) };
        }
        return Reflect.apply(target as never, self, args);
      },
    });
    try {
      const outcomes = await Promise.all(
        Array.from(
          { length: 60 },
          () =>
            new Promise<string>((resolve) => {
              const socket = io(server.url, {
                path: '/socket.io',
                transports: ['websocket'],
                extraHeaders: { origin: server.origin, cookie: client.cookie! },
                reconnection: false,
                forceNew: true,
                auth: { after: 0 },
              });
              socket.on('connect', () => {
                socket.close();
                resolve('connected');
              });
              socket.on('connect_error', (error) => {
                socket.close();
                resolve(error.message);
              });
            }),
        ),
      );
      // (A session may hold 20 connections at once: some of the 60 may be refused, and queue nothing.)
      expect(outcomes.filter((o) => o === 'connected').length, outcomes.join(',')).toBeGreaterThan(20);
      await expect.poll(() => [...server.live.io.of('/').sockets.values()].filter((socket) => socket.data.user.id === user.id).length).toBe(0);
      release();
      // A staff resume queues behind whatever is queued: once it is live, the queue has drained.
      const resumed = await LiveClient.connect(server, admin.cookie, (await latestSeq(server)) - 1);
      resumed.close();
      expect(plainReplays, 'replay queries run for the sockets that left at once (8 run at once)').toBeLessThanOrEqual(8);
    } finally {
      release();
      feed.sql = original;
    }
  });
});
