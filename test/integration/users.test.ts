// Over 300 lines for a reason: the users API route by route (create, list, update, guards, delete, reset), sharing one admin and the snapshot that proves "nothing half-written".
import { beforeAll, describe, expect, test } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { User, UserListItem } from '@roster/shared';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer();
let admin: ApiClient;
let adminUser: User;

beforeAll(async () => {
  ({ client: admin, user: adminUser } = await signedInClient(server, { role: 'admin', username: 'chief' }));
});

async function snapshot() {
  return {
    users: await server.sql`SELECT * FROM users ORDER BY id`,
    // last_seen_at is written after the answer, at most once a minute: not part of what a request changes.
    sessions: await server.sql`SELECT to_jsonb(s) - 'last_seen_at' AS session FROM sessions s ORDER BY id`,
    events: await server.sql`SELECT count(*)::int AS n FROM events`,
  };
}

async function createViaApi(fields: Record<string, unknown> = {}) {
  const suffix = Math.random().toString(36).slice(2, 8);
  const response = await admin.post('/api/v1/users', {
    username: `u-${suffix}`,
    display_name: `User ${suffix}`,
    email: `u-${suffix}@example.com`,
    password: 'a long passphrase',
    ...fields,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.user as User;
}

describe('create', () => {
  test('with a given password; the user can sign in; lower-cased username; audit event', async () => {
    const response = await admin.post('/api/v1/users', {
      username: 'New.Person',
      display_name: ' New Person ',
      email: 'New.Person@Example.com',
      role: 'moderator',
      password: 'a long passphrase',
    });
    expect(response.status).toBe(201);
    expect(response.body.generated_password).toBeUndefined();
    expect(response.body.user).toMatchObject({ username: 'new.person', display_name: 'New Person', role: 'moderator', status: 'active', version: 1 });
    expect(response.body.user.password_hash).toBeUndefined();
    await new ApiClient(server).signIn('new.person', 'a long passphrase');
    const [event] = await server.sql`SELECT * FROM events WHERE action = 'user.created' AND target_id = ${response.body.user.id}`;
    expect(event).toMatchObject({ actor_id: adminUser.id, actor_label: 'chief', target_label: 'new.person' });
  });

  test('with a generated password, returned once', async () => {
    const response = await admin.post('/api/v1/users', {
      username: 'generated',
      display_name: 'Generated',
      email: 'generated@example.com',
      generate_password: true,
    });
    expect(response.status).toBe(201);
    expect(response.body.generated_password).toMatch(/^[\w-]{20}$/);
    await new ApiClient(server).signIn('generated', response.body.generated_password);
    const read = await admin.get(`/api/v1/users/${response.body.user.id}`);
    expect(JSON.stringify(read.body)).not.toContain(response.body.generated_password);
  });

  test('duplicates: username and email (case-insensitively) get 409 with the field', async () => {
    const existing = await createViaApi();
    const before = await snapshot();
    const sameName = await admin.post('/api/v1/users', {
      username: existing.username.toUpperCase(),
      display_name: 'X',
      email: 'other-unique@example.com',
      password: 'a long passphrase',
    });
    expect(sameName.status).toBe(409);
    expect(sameName.body.error).toMatchObject({ code: 'username_taken', fields: { username: 'Already taken' } });
    const sameEmail = await admin.post('/api/v1/users', {
      username: 'another-unique',
      display_name: 'X',
      email: existing.email.toUpperCase(),
      password: 'a long passphrase',
    });
    expect(sameEmail.status).toBe(409);
    expect(sameEmail.body.error.code).toBe('email_taken');
    expect(await snapshot()).toEqual(before);
  });

  test('bad input: every field named, nothing written', async () => {
    const before = await snapshot();
    const cases: [Record<string, unknown>, string[]][] = [
      [{}, ['display_name', 'email', 'password', 'username']],
      [{ username: 'ab', display_name: '', email: 'not-an-email', role: 'root', password: 'short' }, ['display_name', 'email', 'password', 'role', 'username']],
      [{ username: 'has space', display_name: 'x'.repeat(101), email: 'a@b.co', password: 'x'.repeat(257) }, ['display_name', 'password', 'username']],
      [{ username: 'okname', display_name: 'Ok', email: 'ok@example.com', password: 'a long passphrase', generate_password: true }, ['password']],
      [{ username: 'okname', display_name: 'Ok', email: 'ok@example.com', password: 'a long passphrase', status: 'inactive', id: 'x', version: 9 }, ['id', 'status', 'version']],
      [{ username: 42, display_name: null, email: ['a'], password: {} }, ['display_name', 'email', 'password', 'username']],
    ];
    for (const [body, fields] of cases) {
      const response = await admin.post('/api/v1/users', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
      expect(Object.keys(response.body.error.fields).sort(), JSON.stringify(body)).toEqual(fields);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('read, list, search, sort, page', () => {
  let people: User[];
  beforeAll(async () => {
    people = [];
    for (const [username, display_name, role] of [
      ['alice.w', 'Alice Walker', 'user'],
      ['bob_100', 'Robert 100% Real', 'moderator'],
      ['carol', 'Carol Danvers', 'user'],
      ['dave-x', 'Dave X', 'admin'],
    ] as const) {
      people.push(await createViaApi({ username, display_name, role, email: `${username}@corp.example` }));
    }
    await admin.patch(`/api/v1/users/${people[2]!.id}`, { version: 1, status: 'inactive' });
  });

  test('GET /users/:id; unknown and malformed ids are 404', async () => {
    expect((await admin.get(`/api/v1/users/${people[0]!.id}`)).body.user.username).toBe('alice.w');
    expect((await admin.get('/api/v1/users/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await admin.get('/api/v1/users/not-a-uuid')).status).toBe(404);
  });

  test('newest first by default, with the total', async () => {
    const list = await admin.get('/api/v1/users?limit=200');
    expect(list.status).toBe(200);
    const created = list.body.items.map((u: User) => u.created_at);
    expect(created).toEqual([...created].sort().reverse());
    const { n } = (await server.sql`SELECT count(*)::int AS n FROM users`)[0]!;
    expect(list.body.total).toBe(n);
    expect(list.body.total_is_estimate).toBe(false);
  });

  test('beyond 10,000 matches the total is the planner\'s estimate, said so; below, it is exact', async () => {
    const arena = await startTestServer();
    try {
      const { client } = await signedInClient(arena, { role: 'admin' });
      await arena.sql`
        INSERT INTO users (username, display_name, email, role, password_hash)
        SELECT 'many' || n, 'Many ' || n, 'many' || n || '@example.com', CASE WHEN n % 100 = 0 THEN 'moderator' ELSE 'user' END, 'x'
        FROM generate_series(1, 12000) n`;
      await arena.sql`ANALYZE users`;
      const all = await client.get('/api/v1/users?limit=1');
      expect(all.body.total_is_estimate).toBe(true);
      expect(all.body.total).toBeGreaterThan(10_000);
      expect(Math.abs(all.body.total - 12_001) / 12_001).toBeLessThan(0.2);
      const few = await client.get('/api/v1/users?limit=1&role=moderator');
      expect(few.body).toMatchObject({ total: 120, total_is_estimate: false });
    } finally {
      await arena.close();
    }
  });

  test('q matches username, display name and email, case-insensitively, as a substring', async () => {
    const names = async (q: string) =>
      (await admin.get(`/api/v1/users?q=${encodeURIComponent(q)}`)).body.items.map((u: User) => u.username).sort();
    expect(await names('ALICE')).toEqual(['alice.w']);
    expect(await names('danvers')).toEqual(['carol']);
    expect(await names('corp.EXAMPLE')).toEqual(['alice.w', 'bob_100', 'carol', 'dave-x']);
    // LIKE wildcards are literal text.
    expect(await names('100%')).toEqual(['bob_100']);
    expect(await names('_100')).toEqual(['bob_100']);
    expect(await names('zzz-nobody')).toEqual([]);
  });

  test('role and status filters combine with q; total counts the filtered set', async () => {
    const inactive = await admin.get('/api/v1/users?q=corp.example&status=inactive');
    expect(inactive.body.items.map((u: User) => u.username)).toEqual(['carol']);
    expect(inactive.body.total).toBe(1);
    const mods = await admin.get('/api/v1/users?q=corp.example&role=moderator&status=active');
    expect(mods.body.items.map((u: User) => u.username)).toEqual(['bob_100']);
  });

  test('id picks one user\'s row as the list shows it, if it matches the other filters', async () => {
    const [carol] = (await admin.get('/api/v1/users?q=carol')).body.items as UserListItem[];
    const one = await admin.get(`/api/v1/users?id=${carol!.id}&status=inactive`);
    expect(one.status).toBe(200);
    expect(one.body.items).toEqual([carol]);
    expect(one.body.seq).toBeGreaterThan(0);
    expect((await admin.get(`/api/v1/users?id=${carol!.id}&status=active`)).body.items).toEqual([]);
    expect((await admin.get(`/api/v1/users?id=${randomUUID()}`)).body.items).toEqual([]);
  });

  test('keyset paging walks every sort order in both directions without gaps or repeats', async () => {
    const { n } = (await server.sql`SELECT count(*)::int AS n FROM users`)[0]!;
    for (const sort of ['username', '-username', 'email', '-email', 'created_at', '-created_at', 'last_login_at', '-last_login_at']) {
      const seen: User[] = [];
      let cursor: string | null = null;
      do {
        const page: any = await admin.get(`/api/v1/users?sort=${sort}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...page.body.items);
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen.length, sort).toBe(n);
      expect(new Set(seen.map((u) => u.id)).size, sort).toBe(n);
      const field = sort.replace('-', '') as keyof User;
      if (field === 'username' || field === 'email') {
        const values = seen.map((u) => String(u[field]).toLowerCase());
        const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        expect(values, sort).toEqual(sort.startsWith('-') ? sorted.reverse() : sorted);
      }
    }
  });

  test('bad query parameters are 400 with the field', async () => {
    for (const [query, field] of [
      ['sort=password_hash', 'sort'],
      ['limit=0', 'limit'],
      ['limit=1000', 'limit'],
      ['role=root', 'role'],
      ['status=gone', 'status'],
      ['cursor=garbage', 'cursor'],
      ['cursor=WyJub3QgYSBkYXRlIiwieCJd', 'cursor'],
      ['unknown=1', 'unknown'],
      [`q=${'x'.repeat(101)}`, 'q'],
      ['id=42', 'id'],
    ]) {
      const response = await admin.get(`/api/v1/users?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.fields, query).toHaveProperty(field!);
    }
  });

  test('stats count users by role and status, and sessions', async () => {
    const stats = (await admin.get('/api/v1/users/stats')).body;
    const [counts] = await server.sql`
      SELECT count(*)::int AS total, count(*) FILTER (WHERE status = 'inactive')::int AS inactive,
             count(*) FILTER (WHERE role = 'admin')::int AS admins FROM users`;
    expect(stats).toMatchObject({ total: counts!.total, inactive: counts!.inactive, admins: counts!.admins, online: 0 });
    expect(stats.active + stats.inactive).toBe(stats.total);
    expect(stats.admins + stats.moderators + stats.users).toBe(stats.total);
    expect(stats.sessions).toBeGreaterThanOrEqual(1);
  });

  test('export has the profile, sessions, keys and audit trail, and no secrets', async () => {
    const response = await admin.get(`/api/v1/users/${adminUser.id}/export`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toMatch(/attachment; filename="roster-user-chief.json"/);
    expect(response.body.user.id).toBe(adminUser.id);
    expect(response.body.sessions.length).toBeGreaterThanOrEqual(1);
    expect(response.body.events.length).toBeGreaterThan(0);
    const text = JSON.stringify(response.body);
    expect(text).not.toMatch(/password_hash|argon2|"hash"/);
  });
});

describe('update', () => {
  test('changes fields, bumps the version, records what changed', async () => {
    const user = await createViaApi();
    const response = await admin.patch(`/api/v1/users/${user.id}`, { version: 1, display_name: 'Renamed', role: 'moderator', can_share_publicly: true });
    expect(response.status).toBe(200);
    expect(response.body.user).toMatchObject({ display_name: 'Renamed', role: 'moderator', can_share_publicly: true, version: 2 });
    const [event] = await server.sql`SELECT data FROM events WHERE action = 'user.updated' AND target_id = ${user.id}`;
    expect(event!.data.changes).toEqual({
      display_name: { from: user.display_name, to: 'Renamed' },
      role: { from: 'user', to: 'moderator' },
      can_share_publicly: { from: false, to: true },
    });
  });

  test('a stale version gets 409 version_conflict with the current record, and changes nothing', async () => {
    const user = await createViaApi();
    await admin.patch(`/api/v1/users/${user.id}`, { version: 1, display_name: 'First edit' });
    const before = await snapshot();
    const stale = await admin.patch(`/api/v1/users/${user.id}`, { version: 1, display_name: 'Second edit' });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('version_conflict');
    expect(stale.body.current).toMatchObject({ id: user.id, display_name: 'First edit', version: 2 });
    expect(await snapshot()).toEqual(before);
  });

  test('a change to the same values is a no-op: same version, no event', async () => {
    const user = await createViaApi();
    const response = await admin.patch(`/api/v1/users/${user.id}`, { version: 1, display_name: user.display_name });
    expect(response.body.user.version).toBe(1);
    expect(await server.sql`SELECT 1 FROM events WHERE action = 'user.updated' AND target_id = ${user.id}`).toHaveLength(0);
  });

  test('bad input: named fields, nothing written; unknown user 404', async () => {
    const user = await createViaApi();
    const other = await createViaApi();
    const before = await snapshot();
    const cases: [Record<string, unknown>, string][] = [
      [{ display_name: 'x' }, 'version'],
      [{ version: 1 }, '_'],
      [{ version: 1, role: 'owner' }, 'role'],
      [{ version: 1, status: 'banned' }, 'status'],
      [{ version: 1, email: 'nope' }, 'email'],
      [{ version: 1, username: 'Bad Name' }, 'username'],
      [{ version: 1, password_hash: 'x' }, 'password_hash'],
      [{ version: 1, created_at: '2020-01-01T00:00:00Z' }, 'created_at'],
      [{ version: 'one', display_name: 'x' }, 'version'],
    ];
    for (const [body, field] of cases) {
      const response = await admin.patch(`/api/v1/users/${user.id}`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.fields, JSON.stringify(body)).toHaveProperty(field);
    }
    const taken = await admin.patch(`/api/v1/users/${user.id}`, { version: 1, email: other.email });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('email_taken');
    expect(await snapshot()).toEqual(before);
    const missing = await admin.patch('/api/v1/users/00000000-0000-0000-0000-000000000000', { version: 1, display_name: 'x' });
    expect(missing.status).toBe(404);
  });

  test('a role change applies on the user\'s very next request', async () => {
    const { client, user } = await signedInClient(server, { role: 'user' });
    expect((await client.get('/api/v1/users')).status).toBe(403);
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, role: 'moderator' });
    expect((await client.get('/api/v1/users')).status).toBe(200);
  });
});

describe('guards', () => {
  test('no self-demotion, self-deactivation or self-deletion', async () => {
    const { client, user } = await signedInClient(server, { role: 'admin' });
    const before = await snapshot();
    for (const change of [{ role: 'moderator' }, { status: 'inactive' }]) {
      const response = await client.patch(`/api/v1/users/${user.id}`, { version: user.version, ...change });
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('self_action');
    }
    expect((await client.delete(`/api/v1/users/${user.id}`)).body.error.code).toBe('self_action');
    expect(await snapshot()).toEqual(before);
  });

  test('the last active admin cannot be demoted, deactivated or deleted', async () => {
    const lonely = await startTestServer();
    try {
      const { client: a } = await signedInClient(lonely, { role: 'admin' });
      const b = await createTestUser(lonely, { role: 'admin' });
      // a demotes b: fine, a is still an admin.
      expect((await a.patch(`/api/v1/users/${b.id}`, { version: b.version, role: 'user' })).status).toBe(200);
      // Make b an admin again but inactive; then a is the only active admin.
      const c = await createTestUser(lonely, { role: 'admin' });
      await lonely.sql`UPDATE users SET status = 'inactive' WHERE id = ${c.id}`;
      // An API key of a (admin) acting on a itself is still "self".
      const aId = (await a.get('/api/v1/auth/me')).body.user.id;
      const key = (await a.post('/api/v1/api-keys', { name: 'ops', system: true })).body.key;
      const system = new ApiClient(lonely, { origin: null, headers: { authorization: `Bearer ${key}` } });
      const demote = await system.patch(`/api/v1/users/${aId}`, { version: 1, role: 'user' });
      expect(demote.status).toBe(409);
      expect(demote.body.error.code).toBe('last_admin');
      expect((await system.patch(`/api/v1/users/${aId}`, { version: 1, status: 'inactive' })).body.error.code).toBe('last_admin');
      expect((await system.delete(`/api/v1/users/${aId}`)).body.error.code).toBe('last_admin');
      const bulk = await system.post('/api/v1/users/bulk', { ids: [aId], action: 'deactivate' });
      expect(bulk.body.results).toEqual([{ id: aId, ok: false, error: { code: 'last_admin', message: expect.any(String) } }]);
    } finally {
      await lonely.close();
    }
  });

  test('two admins demoting each other at the same moment leave one admin', async () => {
    for (let round = 0; round < 5; round++) {
      const arena = await startTestServer();
      try {
        const { client: a, user: ua } = await signedInClient(arena, { role: 'admin' });
        const { client: b, user: ub } = await signedInClient(arena, { role: 'admin' });
        const action = round % 2 === 0 ? { role: 'user' } : { status: 'inactive' };
        const [ra, rb] = await Promise.all([
          a.patch(`/api/v1/users/${ub.id}`, { version: ub.version, ...action }),
          b.patch(`/api/v1/users/${ua.id}`, { version: ua.version, ...action }),
        ]);
        // One wins. The other is refused by the guard, or, when the winner's change committed before
        // the loser's request was authenticated, by its lost role (403) or ended session (401).
        expect([ra.status, rb.status]).toContain(200);
        const loser = ra.status === 200 ? rb : ra;
        expect([401, 403, 409]).toContain(loser.status);
        const { n } = (await arena.sql`SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND status = 'active'`)[0]!;
        expect(n).toBe(1);
      } finally {
        await arena.close();
      }
    }
  });

  test('two requests that pass authentication race into the guard: exactly one is refused with last_admin', async () => {
    for (let round = 0; round < 6; round++) {
      const arena = await startTestServer();
      try {
        const { client } = await signedInClient(arena, { role: 'admin' });
        const second = await createTestUser(arena, { role: 'admin' });
        const first = (await client.get('/api/v1/auth/me')).body.user as User;
        // System keys act as no user, so neither request is stopped by its own target's change.
        const keys = await Promise.all([1, 2].map(async (n) => (await client.post('/api/v1/api-keys', { name: `k${n}`, system: true })).body.key));
        const [k1, k2] = keys.map((key) => new ApiClient(arena, { origin: null, headers: { authorization: `Bearer ${key}` } }));
        const change = [{ role: 'moderator' }, { status: 'inactive' }][round % 2]!;
        const results = await Promise.all([
          k1!.patch(`/api/v1/users/${first.id}`, { version: first.version, ...change }),
          k2!.patch(`/api/v1/users/${second.id}`, { version: second.version, ...change }),
        ]);
        expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
        expect(results.find((r) => r.status === 409)!.body.error.code).toBe('last_admin');
        const { n } = (await arena.sql`SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND status = 'active'`)[0]!;
        expect(n).toBe(1);
      } finally {
        await arena.close();
      }
    }
  });
});

describe('delete and bulk', () => {
  test('delete removes the user and their sessions; the audit log keeps the labels', async () => {
    const { client, user } = await signedInClient(server);
    const response = await admin.delete(`/api/v1/users/${user.id}`);
    expect(response.status).toBe(204);
    expect((await admin.get(`/api/v1/users/${user.id}`)).status).toBe(404);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    const log = await admin.get(`/api/v1/events?target_id=${user.id}`);
    const actions = log.body.items.map((e: any) => e.action);
    expect(actions).toContain('user.deleted');
    expect(actions).toContain('user.created');
    for (const event of log.body.items) expect(event.target_label).toBe(user.username);
    expect((await admin.delete(`/api/v1/users/${user.id}`)).status).toBe(404);
  });

  test('bulk gives a result per id, applying what it may', async () => {
    const [u1, u2, u3] = [await createViaApi(), await createViaApi(), await createViaApi()];
    const ghost = '00000000-0000-0000-0000-000000000000';
    const deactivate = await admin.post('/api/v1/users/bulk', { ids: [u1.id, u2.id, ghost, adminUser.id], action: 'deactivate' });
    expect(deactivate.status).toBe(200);
    expect(deactivate.body.results).toEqual([
      { id: u1.id, ok: true },
      { id: u2.id, ok: true },
      { id: ghost, ok: false, error: { code: 'not_found', message: expect.any(String) } },
      { id: adminUser.id, ok: false, error: { code: 'self_action', message: expect.any(String) } },
    ]);
    const statuses = await server.sql`SELECT status FROM users WHERE id IN ${server.sql([u1.id, u2.id])}`;
    expect(statuses.map((r) => r.status)).toEqual(['inactive', 'inactive']);

    expect((await admin.post('/api/v1/users/bulk', { ids: [u1.id], action: 'activate' })).body.results[0].ok).toBe(true);
    const setRole = await admin.post('/api/v1/users/bulk', { ids: [u1.id, u3.id], action: 'set_role', role: 'moderator' });
    expect(setRole.body.results.every((r: any) => r.ok)).toBe(true);
    const removed = await admin.post('/api/v1/users/bulk', { ids: [u2.id, u3.id], action: 'delete' });
    expect(removed.body.results.every((r: any) => r.ok)).toBe(true);
    expect(await server.sql`SELECT 1 FROM users WHERE id IN ${server.sql([u2.id, u3.id])}`).toHaveLength(0);
  });

  test('bulk bad input: 400 with the field, nothing written', async () => {
    const before = await snapshot();
    for (const [body, field] of [
      [{ ids: [], action: 'activate' }, 'ids'],
      [{ ids: ['x'], action: 'activate' }, 'ids.0'],
      [{ ids: [adminUser.id], action: 'explode' }, 'action'],
      [{ ids: [adminUser.id], action: 'set_role' }, 'role'],
      [{ ids: [adminUser.id], action: 'activate', role: 'user' }, 'role'],
      [{ ids: Array.from({ length: 501 }, () => adminUser.id), action: 'activate' }, 'ids'],
    ] as const) {
      const response = await admin.post('/api/v1/users/bulk', body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(response.body.error.fields).toHaveProperty(field);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('admin password reset', () => {
  test('sets the password and by default ends every session of the user', async () => {
    const { client, user } = await signedInClient(server);
    const response = await admin.put(`/api/v1/users/${user.id}/password`, { password: 'brand new passphrase' });
    expect(response.status).toBe(200);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    await new ApiClient(server).signIn(user.username, 'brand new passphrase');
  });

  test('revoke_sessions: false keeps the sessions; bad input changes nothing', async () => {
    const { client, user } = await signedInClient(server);
    expect((await admin.put(`/api/v1/users/${user.id}/password`, { password: 'other passphrase', revoke_sessions: false })).status).toBe(200);
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
    const before = await snapshot();
    for (const body of [{}, { password: 'short' }, { password: 'long enough', revoke_sessions: 'yes' }, { password: 'long enough', extra: 1 }]) {
      const response = await admin.put(`/api/v1/users/${user.id}/password`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
    expect(await snapshot()).toEqual(before);
  });
});
