// Over 300 lines for a reason: the live feed's whole contract (fan-out, resume, forced logout, audiences, presence) against one server, one describe per guarantee.
import { afterAll, assert, describe, expect, test } from 'vitest';
import { eventUserId, MAX_REPLAY, type User } from '@roster/shared';
import { applyRetention, retentionPolicy } from '../../server/src/services/retention.ts';
import { ApiClient, LiveClient, connectSocket, createTestUser, latestSeq, signedInClient, useSignedInClient } from '../helpers/clients.ts';
import { runCli } from '../helpers/processes.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer();
const admin = useSignedInClient(server, { role: 'admin' });
const open: LiveClient[] = [];

afterAll(async () => {
  for (const client of open) client.close();
});

async function live(client: ApiClient, after?: number) {
  const liveClient = await LiveClient.connect(server, client.cookie, after);
  open.push(liveClient);
  return liveClient;
}

async function newUser(fields: Record<string, unknown> = {}): Promise<User> {
  const suffix = Math.random().toString(36).slice(2, 8);
  const response = await admin.post('/api/v1/users', {
    username: `live-${suffix}`,
    display_name: `Live ${suffix}`,
    email: `live-${suffix}@example.com`,
    password: 'a long passphrase',
    ...fields,
  });
  return response.body.user;
}

describe('fan-out between admins', () => {
  test('create, update and delete by one admin reach the other with payload and sequence', async () => {
    const { client: other } = await signedInClient(server, { role: 'admin' });
    const watcher = await live(other);
    const start = watcher.lastSeq;

    const user = await newUser();
    const created = await watcher.event((e) => e.action === 'user.created' && e.target_id === user.id, 'user.created');
    expect(created).toMatchObject({ target_type: 'user', version: 1, data: { user: { username: user.username, role: 'user' } } });
    assert(created.action === 'user.created');
    expect(created.data.user).not.toHaveProperty('password_hash');

    await admin.patch(`/api/v1/users/${user.id}`, { version: 1, display_name: 'Changed live' });
    const updated = await watcher.event((e) => e.action === 'user.updated' && e.target_id === user.id, 'user.updated');
    expect(updated).toMatchObject({ version: 2, data: { changes: { display_name: { to: 'Changed live' } } } });

    await admin.delete(`/api/v1/users/${user.id}`);
    const deleted = await watcher.event((e) => e.action === 'user.deleted' && e.target_id === user.id, 'user.deleted');
    expect(deleted.seq).toBeGreaterThan(updated.seq);
    expect(updated.seq).toBeGreaterThan(created.seq);
    expect(created.seq).toBeGreaterThan(start);

    // Exactly the database's events, in order, none twice.
    const rows = await server.sql`SELECT id FROM events WHERE id > ${start} AND id <= ${deleted.seq} ORDER BY id`;
    expect(watcher.events.filter((e) => e.seq <= deleted.seq).map((e) => e.seq)).toEqual(rows.map((r) => Number(r.id)));
  });

  test('concurrent writes from two admins arrive in sequence order with no gaps or duplicates', async () => {
    const { client: second } = await signedInClient(server, { role: 'admin' });
    const watcher = await live(admin);
    const start = watcher.lastSeq;
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? admin : second).post('/api/v1/users', {
          username: `burst-${i}-${Math.random().toString(36).slice(2, 6)}`,
          display_name: `Burst ${i}`,
          email: `burst-${i}-${Math.random().toString(36).slice(2, 6)}@example.com`,
          generate_password: true,
        }),
      ),
    );
    const last = await latestSeq(server);
    await watcher.until(() => watcher.lastSeq >= last, 'the burst');
    const rows = await server.sql`SELECT id FROM events WHERE id > ${start} AND id <= ${last} ORDER BY id`;
    expect(watcher.events.map((e) => e.seq)).toEqual(rows.map((r) => Number(r.id)));
  });

  test('a change made by the CLI reaches connected admins the same way', async () => {
    const watcher = await live(admin);
    const result = await runCli(['create-admin', '--username', 'from-cli', '--email', 'from-cli@example.com', '--password', 'a long passphrase'], {
      DATABASE_URL: server.databaseUrl,
    });
    expect(result.code, result.output).toBe(0);
    const event = await watcher.event((e) => e.action === 'user.created' && e.target_label === 'from-cli', 'CLI user.created');
    expect(event.actor).toEqual({ id: null, label: 'cli' });
  });

  test('stats are pushed after changes, coalesced under a burst', async () => {
    const watcher = await live(admin);
    const before = watcher.stats.length;
    await Promise.all(Array.from({ length: 12 }, () => newUser()));
    const { total } = (await server.sql`SELECT count(*)::int AS total FROM users`)[0]!;
    await watcher.until(() => watcher.stats.at(-1)?.total === total, 'stats with the new total');
    expect(watcher.stats.length - before).toBeLessThan(12);
    expect(watcher.stats.at(-1)).toMatchObject({ total, online: expect.any(Number), sessions: expect.any(Number) });
  });
});

describe('resume', () => {
  test('a client that was away gets exactly the events it missed, in order', async () => {
    const watcher = await live(admin);
    const seenBefore = watcher.lastSeq;
    watcher.close();

    const missed = [await newUser(), await newUser()];
    await admin.patch(`/api/v1/users/${missed[0]!.id}`, { version: 1, role: 'moderator' });
    const expectedRows = await server.sql`SELECT id FROM events WHERE id > ${seenBefore} ORDER BY id`;

    const back = await live(admin, seenBefore);
    await back.until(() => back.events.length >= expectedRows.length, 'the replay');
    expect(back.events.map((e) => e.seq)).toEqual(expectedRows.map((r) => Number(r.id)));
    expect(back.events.filter((e) => e.action === 'user.created').map((e) => e.target_id)).toEqual(missed.map((u) => u.id));

    // And it keeps streaming live after the replay, without repeats.
    const later = await newUser();
    await back.event((e) => e.target_id === later.id, 'live after replay');
    expect(new Set(back.events.map((e) => e.seq)).size).toBe(back.events.length);
  });

  test('a first connection without `after` is live from its first moment and says where it starts', async () => {
    const before = await latestSeq(server);
    const socket = await LiveClient.connect(server, admin.cookie, null);
    open.push(socket);
    expect(socket.ready).toEqual({ seq: before, replayed: 0 });
    const user = await newUser();
    await socket.event((e) => e.target_id === user.id, 'live after a fresh start');
  });

  test('the resume point travels in the handshake: what was missed comes first, then `live`, then live events', async () => {
    const watcher = await live(admin);
    const seenBefore = watcher.lastSeq;
    watcher.close();
    const missed = await newUser();
    const back = await live(admin, seenBefore);
    const replayed = back.events.length;
    expect(back.ready).toEqual({ seq: back.events.at(-1)!.seq, replayed });
    expect(back.events.some((e) => e.target_id === missed.id)).toBe(true);
  });

  test('every sequence number reaches a socket at most once, whatever it sends and when', async () => {
    const start = await latestSeq(server);
    const back = await live(admin, start);
    const first = await newUser();
    await back.event((e) => e.target_id === first.id, 'first live event');
    // A client of the old protocol asking to resume from 0, late: nothing is sent again.
    for (const request of [{ after: 0 }, {}, { after: start }]) (back.socket.emit as (event: string, ...args: unknown[]) => void)('resume', request, () => undefined);
    const second = await newUser();
    await back.event((e) => e.target_id === second.id, 'second live event');
    const seqs = back.events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(Math.min(...seqs)).toBeGreaterThan(start);
  });

  test('a client too far behind is told to resync instead of receiving a flood', async () => {
    const arena = await startTestServer();
    try {
      const { client } = await signedInClient(arena, { role: 'admin' });
      await arena.sql`
        INSERT INTO events (actor_label, action, target_type, target_id, target_label)
        SELECT 'seed', 'user.updated', 'user', gen_random_uuid()::text, 'seed-' || n FROM generate_series(1, 1005) n`;
      await arena.sql`SELECT pg_notify('roster_events', 'seed')`;
      const last = await latestSeq(arena);
      const socket = await LiveClient.connect(arena, client.cookie, 0);
      expect(socket.resyncs).toEqual([last]);
      expect(socket.ready).toEqual({ seq: last, replayed: 0 });
      expect(socket.events).toEqual([]);
      socket.close();
    } finally {
      await arena.close();
    }
  });

  test('a client whose missed events were removed by audit retention is told to resync, not left with a gap', async () => {
    const arena = await startTestServer();
    try {
      const { client: staff } = await signedInClient(arena, { role: 'admin' });
      const { client: plain, user } = await signedInClient(arena);
      const away = await latestSeq(arena);
      // While both were away: a change to the user, then more than a replay's worth of other
      // activity, and all of it grew older than the retention.
      const renamed = await staff.patch(`/api/v1/users/${user.id}`, { version: user.version, display_name: 'Renamed while away' });
      expect(renamed.status).toBe(200);
      await arena.sql`
        INSERT INTO events (actor_label, action, target_type, target_id, target_label)
        SELECT 'seed', 'user.updated', 'user', gen_random_uuid()::text, 'seed-' || n FROM generate_series(1, ${MAX_REPLAY}) n`;
      await arena.sql`SELECT pg_notify('roster_events', 'seed')`;
      await arena.sql`UPDATE events SET at = now() - interval '500 days'`;
      const pruned = await applyRetention(arena.sql, retentionPolicy(arena.config));
      expect(pruned?.events).toBeGreaterThan(0);
      const last = await latestSeq(arena);

      // The staff client would otherwise replay the newest MAX_REPLAY events without the rename;
      // the plain user would replay nothing at all.
      for (const cookie of [staff.cookie, plain.cookie]) {
        const socket = await LiveClient.connect(arena, cookie, away);
        expect(socket.ready).toEqual({ seq: last, replayed: 0 });
        expect(socket.resyncs).toEqual([last]);
        socket.close();
      }

      // From the last sequence removed onwards nothing is missing: a normal resume.
      const through = Number((await arena.sql`SELECT through FROM events_pruned`)[0]!.through);
      const socket = await LiveClient.connect(arena, plain.cookie, through);
      expect(socket.ready).toEqual({ seq: through, replayed: 0 });
      expect(socket.resyncs).toEqual([]);
      socket.close();
    } finally {
      await arena.close();
    }
  });

  test('a bad resume point is refused at the handshake; garbage presence is ignored and the connection survives', async () => {
    for (const bad of [-1, 'a', 1.5, [1], { n: 1 }]) {
      await expect(connectSocket(server, { cookie: admin.cookie, auth: { after: bad } }), JSON.stringify(bad)).rejects.toThrow('invalid_resume_point');
    }
    const watcher = await live(admin);
    for (const bad of [null, 'x', { viewing: 'not-a-uuid' }, { editing: 5 }, { other: 1 }]) watcher.socket.emit('presence', bad as never);
    const user = await newUser();
    await watcher.event((e) => e.target_id === user.id, 'event after garbage');
    expect(watcher.socket.connected).toBe(true);
  });
});

describe('forced logout', () => {
  async function signedInWatcher() {
    const { client, user } = await signedInClient(server);
    const watcher = await live(client);
    return { client, user, watcher };
  }

  test('deactivation closes the user\'s socket and their next request is 401', async () => {
    const { client, user, watcher } = await signedInWatcher();
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' });
    expect(await watcher.disconnected()).toBe('io server disconnect');
    expect(watcher.ended).toEqual({ reason: 'deactivated' });
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('revoking one session closes that session\'s socket only', async () => {
    const { client, user, watcher } = await signedInWatcher();
    const otherDevice = new ApiClient(server);
    await otherDevice.signIn(user.username, user.password);
    const otherWatcher = await live(otherDevice);
    const session = (await client.get('/api/v1/auth/me')).body.session;
    await admin.delete(`/api/v1/sessions/${session.id}`);
    expect(await watcher.disconnected()).toBe('io server disconnect');
    expect(watcher.ended).toEqual({ reason: 'revoked' });
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect(otherWatcher.socket.connected).toBe(true);
    expect((await otherDevice.get('/api/v1/auth/me')).status).toBe(200);
  });

  test('revoking all sessions closes every socket of the user', async () => {
    const { client, user, watcher } = await signedInWatcher();
    const otherDevice = new ApiClient(server);
    await otherDevice.signIn(user.username, user.password);
    const otherWatcher = await live(otherDevice);
    await admin.delete(`/api/v1/users/${user.id}/sessions`);
    await Promise.all([watcher.disconnected(), otherWatcher.disconnected()]);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect((await otherDevice.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('a password reset closes the sockets (by default)', async () => {
    const { client, user, watcher } = await signedInWatcher();
    await admin.put(`/api/v1/users/${user.id}/password`, { password: 'reset by admin' });
    await watcher.disconnected();
    expect(watcher.ended).toEqual({ reason: 'password_reset' });
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('deleting the user closes the sockets', async () => {
    const { client, user, watcher } = await signedInWatcher();
    await admin.delete(`/api/v1/users/${user.id}`);
    await watcher.disconnected();
    expect(watcher.ended).toEqual({ reason: 'deleted' });
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('signing out closes that session\'s sockets', async () => {
    const { client, watcher } = await signedInWatcher();
    await client.post('/api/v1/auth/logout');
    await watcher.disconnected();
    expect(watcher.ended).toEqual({ reason: 'logout' });
  });
});

describe('audiences', () => {
  test('a plain user\'s socket receives only events about their own account and sessions', async () => {
    const { client, user } = await signedInClient(server);
    const watcher = await live(client);
    const stranger = await newUser();
    await admin.patch(`/api/v1/users/${stranger.id}`, { version: 1, display_name: 'Not yours' });
    await new ApiClient(server).signIn(stranger.username, 'a long passphrase');
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, display_name: 'Yours' });
    await watcher.event((e) => e.action === 'user.updated' && e.target_id === user.id, 'own update');
    // The stranger's events were committed before the user's own update, so they would have arrived first.
    for (const event of watcher.events) {
      expect(event.target_id === user.id || eventUserId(event) === user.id, JSON.stringify(event)).toBe(true);
    }
    expect(watcher.stats).toEqual([]);
    expect(watcher.presence).toEqual([]);

    // Replays are filtered the same way.
    const replay = await live(client, 0);
    await replay.until(() => replay.events.some((e) => e.action === 'user.updated'), 'replay');
    for (const event of replay.events) expect(event.target_id === user.id || eventUserId(event) === user.id).toBe(true);
  });

  test('a promotion changes what an open connection receives at once', async () => {
    const { client, user } = await signedInClient(server);
    const watcher = await live(client);
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, role: 'moderator' });
    await watcher.event((e) => e.action === 'user.updated' && e.target_id === user.id, 'promotion');
    const stranger = await newUser();
    await watcher.event((e) => e.target_id === stranger.id, 'staff event after promotion');
  });
});

describe('who is connected', () => {
  test('staff get the connected sessions when they connect, then each change; plain users get none', async () => {
    const { client: plainClient, user: plain } = await signedInClient(server);
    const early = await live(plainClient);
    const { session } = (await plainClient.get('/api/v1/auth/me')).body;
    const { client: staffClient } = await signedInClient(server, { role: 'moderator' });
    const staff = await live(staffClient);
    const snapshot = await staff.until(() => staff.connections.find((c) => c.snapshot), 'the snapshot');
    expect(snapshot.online).toContainEqual([plain.id, session.id]);
    expect(early.connections).toEqual([]);

    early.close();
    const gone = await staff.until(() => staff.connections.find((c) => c.offline.some(([, id]) => id === session.id)), 'the disconnect');
    expect(gone.snapshot).toBe(false);
    expect((await admin.get(`/api/v1/sessions?user_id=${plain.id}`)).body.items[0].online).toBe(false);
    const back = await live(plainClient);
    await staff.until(() => staff.connections.find((c) => c.online.some(([, id]) => id === session.id) && !c.snapshot), 'the reconnect');
    expect((await admin.get(`/api/v1/sessions?user_id=${plain.id}`)).body.items[0].online).toBe(true);
    back.close();
  });
});

describe('presence', () => {
  test('staff see who is online and who is viewing or editing which user', async () => {
    const { client: a, user: ua } = await signedInClient(server, { role: 'admin' });
    const { client: b, user: ub } = await signedInClient(server, { role: 'moderator' });
    const target = await createTestUser(server);
    const watcherA = await live(a);
    const watcherB = await live(b);
    watcherA.socket.emit('presence', { viewing: target.id, editing: target.id });
    const seen = await watcherB.until(
      () => watcherB.presence.find((p) => p.editing[target.id]?.includes(ua.id)),
      'presence with A editing',
    );
    expect(seen.viewing[target.id]).toEqual([ua.id]);
    expect(seen.online.map((u) => u.id)).toEqual(expect.arrayContaining([ua.id, ub.id]));

    watcherA.socket.emit('presence', { editing: null });
    await watcherB.until(() => {
      const last = watcherB.presence.at(-1);
      return last && !last.editing[target.id] && last.viewing[target.id]?.includes(ua.id);
    }, 'A stopped editing but still viewing');

    watcherA.close();
    await watcherB.until(() => {
      const last = watcherB.presence.at(-1);
      return last && !last.online.some((u) => u.id === ua.id) && !last.viewing[target.id];
    }, 'A gone');
  });
});
