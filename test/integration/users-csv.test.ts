import Papa from 'papaparse';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ImportCells, ImportResult, User } from '@roster/shared';
import { ApiClient, createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// CSV import (POST /users/import, a chunk at a time) and export (GET /users/export.csv).

let server: TestServer;
let admin: ApiClient;
let adminUser: User;

beforeAll(async () => {
  server = await startTestServer();
  ({ client: admin, user: adminUser } = await signedInClient(server, { role: 'admin', username: 'csv-chief' }));
});
afterAll(async () => {
  await server.close();
});

const unique = () => Math.random().toString(36).slice(2, 8);

async function importRows(rows: ImportCells[], options: { mode?: 'skip' | 'update'; dry_run?: boolean } = {}, client = admin) {
  const response = await client.post<ImportResult>('/api/v1/users/import', { rows, ...options });
  expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
  return response.body;
}

async function counts() {
  const [row] = await server.sql<{ users: number; events: number }[]>`
    SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM events) AS events`;
  return row!;
}

async function exportCsv(query = '', client = admin) {
  const response = await client.request('GET', `/api/v1/users/export.csv${query}`);
  return { ...response, rows: Papa.parse<Record<string, string>>(String(response.body), { header: true, skipEmptyLines: true }).data };
}

describe('import: checking rows (dry run)', () => {
  test('every row gets a result: new, bad fields, repeated in the chunk, existing, address in use, weak password; nothing is written', async () => {
    const existing = await createTestUser(server);
    const another = await createTestUser(server);
    const s = unique();
    const rows: ImportCells[] = [
      { username: `new-${s}`, email: `new-${s}@example.com`, display_name: 'New Person', role: 'Moderator' },
      { username: 'x', email: 'not an address', role: 'boss' },
      { username: `NEW-${s}`, email: `other-${s}@example.com` },
      { username: existing.username, email: existing.email },
      { username: `taken-${s}`, email: another.email.toUpperCase() },
      { username: `weak-${s}`, email: `weak-${s}@example.com`, password: 'password' },
      { username: `pw-${s}`, email: `pw-${s}@example.com`, password: 'a long enough passphrase', status: 'inactive' },
    ];
    const before = await counts();
    const result = await importRows(rows, { dry_run: true });
    expect(await counts()).toEqual(before);
    expect(result.dry_run).toBe(true);
    expect(result.results.map((r) => r.outcome)).toEqual(['created', 'failed', 'failed', 'skipped', 'failed', 'failed', 'created']);
    expect(Object.keys(result.results[1]!.errors!).sort()).toEqual(['email', 'role', 'username']);
    expect(result.results[2]!.errors).toEqual({ username: 'Same as row 1' });
    expect(result.results[3]!.user_id).toBe(existing.id);
    expect(result.results[4]!.errors).toEqual({ email: 'Already in use by another user' });
    expect(result.results[5]!.errors!.password).toMatch(/common/);
    expect(result.counts).toEqual({ created: 2, updated: 0, unchanged: 0, skipped: 1, failed: 4 });
  });

  test('update mode previews the change, refuses one\'s own account', async () => {
    const existing = await createTestUser(server);
    const result = await importRows(
      [
        { username: existing.username, email: existing.email, display_name: 'Renamed' },
        { username: existing.username.toUpperCase(), email: existing.email },
        { username: adminUser.username, email: adminUser.email, role: 'user' },
      ],
      { dry_run: true, mode: 'update' },
    );
    expect(result.results.map((r) => r.outcome)).toEqual(['updated', 'failed', 'failed']);
    expect(result.results[2]!.errors!._).toMatch(/own account/);
    expect((await admin.get(`/api/v1/users/${existing.id}`)).body.user.display_name).toBe(existing.display_name);
  });

  test('bad requests: too many rows, unknown columns, no rows, a bad mode', async () => {
    const row = { username: `a-${unique()}`, email: `a-${unique()}@example.com` };
    for (const [body, field] of [
      [{ rows: Array.from({ length: 501 }, () => row) }, 'rows'],
      [{ rows: [{ ...row, shoe_size: '42' }] }, 'shoe_size'],
      [{ rows: [] }, 'rows'],
      [{ rows: [row], mode: 'merge' }, 'mode'],
      [{ rows: [{ ...row, username: 42 }] }, 'rows.0.username'],
    ] as const) {
      const response = await admin.post('/api/v1/users/import', body);
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(Object.keys(response.body.error.fields ?? {}).join(), JSON.stringify(response.body)).toContain(field);
    }
  });

  test('moderators and plain users may not import or export', async () => {
    for (const role of ['moderator', 'user'] as const) {
      const { client } = await signedInClient(server, { role });
      expect((await client.post('/api/v1/users/import', { rows: [{ username: 'abc', email: 'abc@example.com' }] })).status).toBe(403);
      expect((await client.get('/api/v1/users/export.csv')).status).toBe(403);
    }
  });
});

describe('import: writing', () => {
  test('creates users in one transaction with an event each and one for the chunk; other admins see them live', async () => {
    const { client: other } = await signedInClient(server, { role: 'admin' });
    const watcher = await LiveClient.connect(server, other.cookie);
    const s = unique();
    const rows: ImportCells[] = [
      { username: `imp-a-${s}`, email: `imp-a-${s}@example.com`, display_name: 'Ann Import', role: 'moderator' },
      { username: `imp-b-${s}`, email: `imp-b-${s}@example.com`, password: 'a long enough passphrase' },
      { username: `imp-c-${s}`, email: 'broken' },
    ];
    const result = await importRows(rows);
    expect(result.counts).toEqual({ created: 2, updated: 0, unchanged: 0, skipped: 0, failed: 1 });
    const [a, b] = result.results;
    const ann = (await admin.get(`/api/v1/users/${a!.user_id}`)).body.user as User;
    expect(ann).toMatchObject({ username: `imp-a-${s}`, display_name: 'Ann Import', role: 'moderator', status: 'active', password_change_required: true });
    expect((await admin.get(`/api/v1/users/${b!.user_id}`)).body.user.display_name).toBe(`imp-b-${s}`);

    // With a password: it works once, then must be replaced. Without: nothing signs in.
    const signIn = await new ApiClient(server).post('/api/v1/auth/login', { login: `imp-b-${s}`, password: 'a long enough passphrase' });
    expect(signIn.status).toBe(200);
    expect(signIn.body.user.password_change_required).toBe(true);
    const [hash] = await server.sql<{ password_hash: string }[]>`SELECT password_hash FROM users WHERE id = ${a!.user_id!}`;
    expect(hash!.password_hash).toBe('!');
    for (const password of ['!', '', 'anything at all']) {
      expect((await new ApiClient(server).post('/api/v1/auth/login', { login: `imp-a-${s}`, password })).status).not.toBe(200);
    }

    const summary = await watcher.event((e) => e.action === 'users.imported', 'users.imported');
    expect(summary.data).toEqual({ mode: 'skip', rows: 3, counts: result.counts });
    const created = watcher.events.filter((e) => e.action === 'user.created').map((e) => e.target_id);
    expect(created.sort()).toEqual([a!.user_id, b!.user_id].sort());
    watcher.close();
  });

  test('skip leaves existing users alone; update changes the fields given (blank cells change nothing) and guards them', async () => {
    const target = await createTestUser(server, { role: 'moderator' });
    const rows: ImportCells[] = [{ username: target.username, email: target.email, display_name: 'Changed Name', role: 'user', status: '' }];
    const skipped = await importRows(rows);
    expect(skipped.results[0]).toMatchObject({ outcome: 'skipped', user_id: target.id });
    expect((await admin.get(`/api/v1/users/${target.id}`)).body.user.display_name).toBe(target.display_name);

    const updated = await importRows(rows, { mode: 'update' });
    expect(updated.results[0]).toMatchObject({ outcome: 'updated', user_id: target.id });
    const after = (await admin.get(`/api/v1/users/${target.id}`)).body.user as User;
    expect(after).toMatchObject({ display_name: 'Changed Name', role: 'user', status: 'active', version: target.version + 1 });
    const [event] = await server.sql`SELECT data FROM events WHERE action = 'user.updated' AND target_id = ${target.id}`;
    expect(Object.keys(event!.data.changes).sort()).toEqual(['display_name', 'role']);

    expect((await importRows(rows, { mode: 'update' })).results[0]!.outcome).toBe('unchanged');
    // Addresses compare as the database does (citext): a file whose addresses changed case changes nothing.
    expect((await importRows([{ ...rows[0]!, email: target.email.toUpperCase() }], { mode: 'update' })).results[0]!.outcome).toBe('unchanged');

    // Deactivating through an import ends the user's sessions, as it does by hand.
    const { client: victim, user } = await signedInClient(server);
    await importRows([{ username: user.username, email: user.email, status: 'inactive' }], { mode: 'update' });
    expect((await victim.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('an import never leaves Roster without an active admin, even from a system key demoting them all', async () => {
    const key = (await admin.post('/api/v1/api-keys', { name: 'importer', system: true })).body.key as string;
    const system = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
    const admins = await server.sql<{ username: string; email: string }[]>`SELECT username, email FROM users WHERE role = 'admin' AND status = 'active' ORDER BY username`;
    expect(admins.length).toBeGreaterThan(1);
    const result = await importRows(admins.map((a) => ({ username: a.username, email: a.email, role: 'user' })), { mode: 'update' }, system);
    expect(result.counts).toMatchObject({ updated: admins.length - 1, failed: 1 });
    expect(result.results.at(-1)!.errors).toEqual({ _: 'Roster needs at least one active admin' });
    const [left] = await server.sql`SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND status = 'active'`;
    expect(left!.n).toBe(1);
    // Put them back for the tests that follow.
    await server.sql`UPDATE users SET role = 'admin' WHERE username IN ${server.sql(admins.map((a) => a.username))}`;
  });

  test('a username taken by a concurrent import fails that row only', async () => {
    for (let round = 0; round < 30; round++) {
      const s = unique();
      const shared = { username: `race-${s}`, email: `race-${s}@example.com` };
      const [first, second] = await Promise.all([
        importRows([shared, { username: `solo1-${s}`, email: `solo1-${s}@example.com` }]),
        importRows([shared, { username: `solo2-${s}`, email: `solo2-${s}@example.com` }]),
      ]);
      const outcomes = [first!.results[0]!.outcome, second!.results[0]!.outcome].sort();
      expect(['created,failed', 'created,skipped']).toContain(outcomes.join());
      expect(first!.results[1]!.outcome).toBe('created');
      expect(second!.results[1]!.outcome).toBe('created');
      const [n] = await server.sql`SELECT count(*)::int AS n FROM users WHERE username = ${shared.username}`;
      expect(n!.n).toBe(1);
    }
  });

  test('10,000 rows in chunks of 500 (reports the time; no timing is asserted)', async () => {
    const s = unique();
    const rows: ImportCells[] = Array.from({ length: 10_000 }, (_, i) => ({
      username: `bulk-${s}-${i}`,
      email: `bulk-${s}-${i}@example.com`,
      display_name: `Bulk Person ${i}`,
      role: i % 10 === 0 ? 'moderator' : 'user',
    }));
    const chunks = Array.from({ length: 20 }, (_, i) => rows.slice(i * 500, (i + 1) * 500));
    let started = performance.now();
    for (const chunk of chunks) expect((await importRows(chunk, { dry_run: true })).counts.created).toBe(500);
    const previewMs = performance.now() - started;
    started = performance.now();
    for (const chunk of chunks) expect((await importRows(chunk)).counts.created).toBe(500);
    const importMs = performance.now() - started;
    const [n] = await server.sql`SELECT count(*)::int AS n FROM users WHERE username LIKE ${`bulk-${s}-%`}`;
    expect(n!.n).toBe(10_000);
    console.log(`[measure] CSV import of 10,000 rows without passwords: preview (dry run) ${(previewMs / 1000).toFixed(1)} s, import ${(importMs / 1000).toFixed(1)} s`);

    const withPasswords = rows.slice(0, 500).map((row, i) => ({ ...row, username: `pw-${s}-${i}`, email: `pw-${s}-${i}@example.com`, password: `a passphrase of ${s} number ${i}` }));
    started = performance.now();
    expect((await importRows(withPasswords)).counts.created).toBe(500);
    console.log(`[measure] CSV import of 500 rows with passwords (argon2id each): ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 300_000);
});

describe('export', () => {
  test('the filtered table as CSV, in its sort, with formulas escaped', async () => {
    const s = unique();
    const evil = await createTestUser(server, { username: `csvx-${s}`, display_name: '=HYPERLINK("http://evil.example","click")' });
    await createTestUser(server, { username: `csvy-${s}`, display_name: '+1 Plus', role: 'moderator' });
    await createTestUser(server, { username: `-csvz-${s}`, display_name: '@SUM(A1)' });
    await createTestUser(server, { username: `csvw-${s}`, display_name: '\tTabbed "quoted", with comma' });

    const { status, headers, rows, body } = await exportCsv(`?q=${s}&sort=username`);
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(headers.get('content-disposition')).toMatch(/^attachment; filename="roster-users-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect(String(body).split('\r\n')[0]).toBe(
      'id,username,display_name,email,role,status,password_change_required,can_share_publicly,token_budget,minute_budget,created_at,updated_at,last_login_at',
    );
    expect(rows.map((r) => r.username)).toEqual([`'-csvz-${s}`, `csvw-${s}`, `csvx-${s}`, `csvy-${s}`]);
    expect(rows.map((r) => r.display_name)).toEqual(["'@SUM(A1)", '\'\tTabbed "quoted", with comma', '\'=HYPERLINK("http://evil.example","click")', "'+1 Plus"]);
    expect(rows[2]).toMatchObject({ id: evil.id, email: evil.email, role: 'user', status: 'active', token_budget: '', last_login_at: '' });

    const moderators = await exportCsv(`?q=${s}&role=moderator`);
    expect(moderators.rows.map((r) => r.username)).toEqual([`csvy-${s}`]);
    expect((await exportCsv('?role=boss')).status).toBe(400);
    expect((await exportCsv('?limit=5')).status).toBe(400);
  });

  test('100,000 users are streamed (reports the time and the server\'s memory); a download cancelled half-way gives its connection back', async () => {
    const s = unique();
    await server.sql`
      INSERT INTO users (username, display_name, email, password_hash)
      SELECT 'many-' || ${s} || '-' || i, 'Many ' || i, 'many-' || ${s} || '-' || i || '@example.com', '!'
      FROM generate_series(1, 100000) i`;
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const response = await fetch(`${server.url}/api/v1/users/export.csv?q=many-${s}-&sort=username`, { headers: { cookie: admin.cookie! } });
    expect(response.status).toBe(200);
    let lines = 0;
    let firstByteMs = 0;
    let heapPeak = heapBefore;
    const decoder = new TextDecoder();
    const reader = response.body!.getReader();
    for (let piece = await reader.read(); !piece.done; piece = await reader.read()) {
      const chunk = piece.value;
      firstByteMs ||= performance.now() - started;
      lines += (decoder.decode(chunk, { stream: true }).match(/\n/g) ?? []).length;
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }
    expect(lines).toBe(100_001);
    console.log(
      `[measure] CSV export of 100,000 users: first bytes after ${firstByteMs.toFixed(0)} ms, all after ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `heap (test and server share the process) grew at most ${((heapPeak - heapBefore) / 1e6).toFixed(0)} MB`,
    );

    // Cancelled after the first piece: the snapshot's transaction ends and the connection is free again.
    const controller = new AbortController();
    const partial = await fetch(`${server.url}/api/v1/users/export.csv?q=many-${s}-`, { headers: { cookie: admin.cookie! }, signal: controller.signal });
    await partial.body!.getReader().read();
    controller.abort();
    await expect.poll(async () => {
      const [row] = await server.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'`;
      return row!.n;
    }, { timeout: 5000 }).toBe(0);
    expect((await admin.get('/api/v1/users?limit=1')).status).toBe(200);

    // Two downloads at once per node, each holding a connection; a third waits its turn.
    const open = await Promise.all(
      [1, 2].map(async () => {
        const aborter = new AbortController();
        const response = await fetch(`${server.url}/api/v1/users/export.csv?q=many-${s}-`, { headers: { cookie: admin.cookie! }, signal: aborter.signal });
        expect(response.status).toBe(200);
        await response.body!.getReader().read();
        return aborter;
      }),
    );
    const third = await admin.get('/api/v1/users/export.csv');
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('rate_limited');
    for (const aborter of open) aborter.abort();
    await expect.poll(async () => (await admin.get(`/api/v1/users/export.csv?q=many-${s}-1000`)).status, { timeout: 5000 }).toBe(200);

    // HEAD (a link checker, a download manager) answers the headers and holds nothing: before, each
    // took an export's place and a connection for good.
    for (let i = 0; i < 3; i++) {
      const head = await fetch(`${server.url}/api/v1/users/export.csv`, { method: 'HEAD', headers: { cookie: admin.cookie! } });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toMatch(/^text\/csv/);
    }
    expect((await admin.get(`/api/v1/users/export.csv?q=many-${s}-1000`)).status).toBe(200);
    const [idle] = await server.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'`;
    expect(idle!.n).toBe(0);
  }, 300_000);
});
