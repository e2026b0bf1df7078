import { describe, expect, test } from 'vitest';
import { loadMigrations, runMigrations } from '../../db/migrate.ts';
import { ApiClient, connectSocket, createTestUser, signedInClient } from '../helpers/clients.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer();

describe('sessions API', () => {
  test('admins list everyone\'s sessions with user, client and whether a connection is open', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const socket = await connectSocket(server, { cookie: client.cookie });
    const list = await admin.get(`/api/v1/sessions?user_id=${user.id}`);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ user: { id: user.id, username: user.username }, online: true, current: false });
    expect(list.body.items[0].ip).toBeTruthy();
    expect(list.body.items[0].user_agent).toBeTruthy();
    socket.close();
    const all = await admin.get('/api/v1/sessions');
    expect(all.body.items.length).toBeGreaterThanOrEqual(2);
    expect(all.body.items.filter((s: any) => s.current)).toHaveLength(1);
  });

  test('a page at a time, most recently used first, with filters by user, online, address and browser', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const prefix = `pg${Math.random().toString(36).slice(2, 7)}`;
    const people = [];
    for (const name of ['ada', 'bob', 'cy']) people.push(await signedInClient(server, { username: `${prefix}-${name}`, display_name: `${name} ${prefix}` }));
    // Two more sessions for ada; each session gets its own address, browser and last use.
    for (let i = 0; i < 2; i++) await new ApiClient(server).signIn(people[0]!.user.username, people[0]!.user.password);
    const socket = await connectSocket(server, { cookie: people[1]!.client.cookie });
    const bobSession = (await people[1]!.client.get('/api/v1/auth/me')).body.session.id;
    const ids = (await server.sql<{ id: string }[]>`
      SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username LIKE ${prefix + '%'} ORDER BY s.id`).map((r) => r.id);
    const agents = ['Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1'];
    for (const [i, id] of ids.entries()) {
      await server.sql`UPDATE sessions SET ip = ${i % 2 ? `10.1.0.${i}` : `192.168.5.${i}`}, user_agent = ${agents[i % 2]!},
        last_seen_at = now() - ${i} * interval '1 minute' - interval '0.000123 seconds' WHERE id = ${id}`;
    }

    // Walked two at a time, the pages hold every session once, in order of last use.
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await admin.get(`/api/v1/sessions?q=${prefix}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      walked.push(...page.body.items.map((s: any) => s.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(walked).toEqual(ids);
    const pick = async (query: string) => (await admin.get(`/api/v1/sessions?q=${prefix}&${query}`)).body.items.map((s: any) => s.id).sort();
    expect(await pick(`user_id=${people[0]!.user.id}`)).toHaveLength(3);
    expect(await pick('online=true')).toEqual([bobSession]);
    expect(await pick('online=false')).toHaveLength(4);
    expect(await pick('ip=10.0.0.0/8')).toEqual(ids.filter((_, i) => i % 2).sort());
    expect(await pick(`ip=192.168.5.2`)).toEqual([ids[2]]);
    expect(await pick('agent=iphone')).toEqual(ids.filter((_, i) => i % 2).sort());
    await server.sql`UPDATE sessions SET ip = '2001:db8::5' WHERE id = ${ids[0]!}`;
    expect(await pick(`ip=${encodeURIComponent('2001:db8::/32')}`)).toEqual([ids[0]]);
    expect(await pick(`ip=${encodeURIComponent('2001:db8:0:0::5')}`)).toEqual([ids[0]]);
    expect((await admin.get(`/api/v1/sessions?q=${encodeURIComponent(`bob ${prefix}`)}`)).body.items).toHaveLength(1);
    socket.close();

    for (const [query, field] of [
      ['ip=10.0.0', 'ip'],
      ['ip=999.1.1.1', 'ip'],
      ['online=maybe', 'online'],
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['cursor=not-ours', 'cursor'],
      [`cursor=${Buffer.from('["x"]').toString('base64url')}`, 'cursor'],
      ['sort=ip', 'sort'],
    ] as const) {
      const refused = await admin.get(`/api/v1/sessions?${query}`);
      expect(refused.status, query).toBe(400);
      expect(Object.keys(refused.body.error.fields), query).toContain(field);
    }
    // A plain user's filters apply to their own sessions only.
    expect((await people[2]!.client.get(`/api/v1/sessions?q=${prefix}`)).body.items).toHaveLength(1);
  });

  test('behind a trusted proxy the client address comes from X-Forwarded-For, and only when it is an address', async () => {
    const proxied = await startTestServer({ env: { TRUST_PROXY: 'true' }, databaseUrl: server.databaseUrl });
    try {
      const user = await createTestUser(proxied);
      const addressOf = async (forwarded: string) => {
        const client = new ApiClient(proxied, { headers: { 'x-forwarded-for': forwarded } });
        await client.signIn(user.username, user.password);
        return (await client.get('/api/v1/auth/me')).body.session.ip;
      };
      expect(await addressOf('203.0.113.9, 10.0.0.1')).toBe('203.0.113.9');
      expect(await addressOf('2001:db8::7')).toBe('2001:db8::7');
      // A zone (the proxy's own interface) is valid to Node but not to PostgreSQL's inet: it is dropped.
      expect(await addressOf('fe80::1%eth0')).toBe('fe80::1');
      for (const junk of ['x'.repeat(5000), "1.2.3.4'; DROP TABLE sessions; --", 'unknown']) expect(await addressOf(junk)).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    } finally {
      await proxied.close();
    }
  });

  test('a user sees only their own sessions and may not ask for others\'', async () => {
    const { client, user } = await signedInClient(server);
    const { user: other } = await signedInClient(server);
    const mine = await client.get('/api/v1/sessions');
    expect(mine.body.items.map((s: any) => s.user_id)).toEqual([user.id]);
    expect((await client.get(`/api/v1/sessions?user_id=${other.id}`)).status).toBe(403);
    expect((await client.get('/api/v1/sessions?user_id=bad')).status).toBe(400);
  });

  test('revoke one: own or (admin) anyone\'s; others\' are not found for a plain user', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const second = new ApiClient(server);
    await second.signIn(user.username, user.password);
    const { client: stranger } = await signedInClient(server);
    const sessions = (await client.get('/api/v1/sessions')).body.items;
    const secondId = sessions.find((s: any) => !s.current).id;
    expect((await stranger.delete(`/api/v1/sessions/${secondId}`)).status).toBe(404);
    expect((await client.delete(`/api/v1/sessions/${secondId}`)).status).toBe(204);
    expect((await second.get('/api/v1/auth/me')).status).toBe(401);
    const currentId = sessions.find((s: any) => s.current).id;
    expect((await admin.delete(`/api/v1/sessions/${currentId}`)).status).toBe(204);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect((await admin.delete(`/api/v1/sessions/${currentId}`)).status).toBe(404);
    expect((await admin.delete('/api/v1/sessions/not-a-session')).status).toBe(404);
  });

  test('revoke all of a user; "except current" keeps the caller\'s', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const second = new ApiClient(server);
    await second.signIn(user.username, user.password);
    expect((await client.delete(`/api/v1/users/${user.id}/sessions?except_current=true`)).status).toBe(204);
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
    expect((await second.get('/api/v1/auth/me')).status).toBe(401);
    expect((await admin.delete(`/api/v1/users/${user.id}/sessions`)).status).toBe(204);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect((await admin.delete('/api/v1/users/00000000-0000-0000-0000-000000000000/sessions')).status).toBe(404);
    expect((await admin.delete(`/api/v1/users/${user.id}/sessions?except_current=maybe`)).status).toBe(400);
  });
});

describe('session addresses stored before they were typed (migration 013)', () => {
  test('every address an older build stored is kept as an address, anything else becomes empty, and the network filter finds them', async () => {
    const { sql } = await createTestDatabase({ empty: true });
    try {
      // The schema as it was before 013, with the addresses as text.
      await sql`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
      for (const migration of (await loadMigrations()).filter((m) => m.version < 13)) {
        await sql.begin(async (tx) => {
          await tx.unsafe(migration.sql);
          await tx`INSERT INTO schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
        });
      }
      const [user] = await sql<{ id: string }[]>`
        INSERT INTO users (username, display_name, email, password_hash) VALUES ('old', 'Old', 'old@example.com', 'x') RETURNING id`;
      const stored = ['127.0.0.1', '::1', '::ffff:10.1.2.3', 'not an address', '1.2.3.4.5', null];
      for (const [i, ip] of stored.entries()) {
        await sql`INSERT INTO sessions (token_hash, user_id, expires_at, ip) VALUES (${`old ${i}`}, ${user!.id}, now() + interval '1 day', ${ip})`;
      }
      expect(await runMigrations(sql)).toContain('013_session_addresses.sql');
      const kept = await sql<{ ip: string | null }[]>`SELECT ip FROM sessions ORDER BY token_hash`;
      expect(kept.map((row) => row.ip)).toEqual(['127.0.0.1', '::1', '::ffff:10.1.2.3', null, null, null]);
      const local = await sql<{ ip: string }[]>`SELECT ip FROM sessions WHERE ip <<= '127.0.0.0/8'::inet`;
      expect(local.map((row) => row.ip)).toEqual(['127.0.0.1']);
    } finally {
      await sql.end();
    }
  });
});
