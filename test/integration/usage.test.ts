import { beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, LiveClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

let now = new Date('2026-11-15T12:00:00Z');
const server = useTestServer({ clock: () => now, env: { USAGE_PRICES: '{"openai-whisper": 0.006, "self-hosted": 0, "gpt": 0.00001}' } });
let admin: ApiClient;
let host: ApiClient;

beforeAll(async () => {
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  const { key } = (await admin.post('/api/v1/api-keys', { name: 'host app', system: true })).body;
  host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
});

async function userWithBudgets(token_budget: number | null, minute_budget: number | null) {
  const user = await createTestUser(server);
  const response = await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, token_budget, minute_budget });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return user;
}

const report = (body: Record<string, unknown>) => host.post('/api/v1/usage', body);

describe('budgets', () => {
  test('token budgets: at least 100,000 in steps of 10,000; minute budgets at least 10; empty is unlimited', async () => {
    const user = await createTestUser(server);
    const patch = (fields: Record<string, unknown>) => admin.patch(`/api/v1/users/${user.id}`, { version: 1, ...fields });
    for (const token_budget of [99_999, 105_000, 0, -10_000, 1.5, '110000']) {
      const response = await patch({ token_budget });
      expect(response.status, String(token_budget)).toBe(400);
      expect(response.body.error.fields).toHaveProperty('token_budget');
    }
    for (const minute_budget of [9, 0, 10.5]) {
      expect((await patch({ minute_budget })).body.error.fields, String(minute_budget)).toHaveProperty('minute_budget');
    }
    const accepted = await patch({ token_budget: 110_000, minute_budget: 10 });
    expect(accepted.status).toBe(200);
    expect(accepted.body.user).toMatchObject({ token_budget: 110_000, minute_budget: 10 });
    const cleared = await admin.patch(`/api/v1/users/${user.id}`, { version: 2, token_budget: null });
    expect(cleared.body.user.token_budget).toBeNull();
    const created = await admin.post('/api/v1/users', { username: 'budgeted', display_name: 'B', email: 'budgeted@example.com', generate_password: true, token_budget: 100_000 });
    expect(created.body.user.token_budget).toBe(100_000);
    expect((await admin.post('/api/v1/users', { username: 'overbudget', display_name: 'B', email: 'ob@example.com', generate_password: true, minute_budget: 9 })).status).toBe(400);
  });

  test('below 80 % ok, at 80 % warning, at 100 % blocked; reports are still recorded once blocked', async () => {
    const user = await userWithBudgets(100_000, 10);
    const state = async () => (await admin.get(`/api/v1/users/${user.id}/usage`)).body.meters.tokens;
    expect((await report({ user_id: user.id, meter: 'tokens', amount: 79_999 })).body.usage.state).toBe('ok');
    expect(await state()).toMatchObject({ used: 79_999, budget: 100_000, state: 'ok' });
    expect((await report({ user_id: user.id, meter: 'tokens', amount: 1 })).body.usage.state).toBe('warning');
    const check = await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=tokens&amount=20000`);
    expect(check.body).toEqual({ allowed: true, state: 'warning', used: 80_000, budget: 100_000, remaining: 20_000 });
    expect((await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=tokens&amount=20001`)).body.allowed).toBe(false);
    expect((await report({ user_id: user.id, meter: 'tokens', amount: 20_000 })).body.usage.state).toBe('blocked');
    const over = await report({ user_id: user.id, meter: 'tokens', amount: 5_000 });
    expect(over.status).toBe(201);
    expect(over.body).toMatchObject({ recorded: true, usage: { used: 105_000, state: 'blocked' } });
    const blocked = await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=tokens&amount=1`);
    expect(blocked.body).toMatchObject({ allowed: false, state: 'blocked', remaining: 0 });
    // Minutes are metered separately.
    expect((await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=minutes`)).body).toMatchObject({ allowed: true, state: 'ok' });
    // Raising the budget unblocks.
    await admin.patch(`/api/v1/users/${user.id}`, { version: 2, token_budget: 200_000 });
    expect((await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=tokens&amount=1`)).body).toMatchObject({ allowed: true, state: 'ok' });
  });

  test('the budget resets when the UTC month turns', async () => {
    const user = await userWithBudgets(null, 10);
    now = new Date('2026-11-30T23:59:00Z');
    await report({ user_id: user.id, meter: 'minutes', amount: 10 });
    expect((await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=minutes`)).body.state).toBe('blocked');
    now = new Date('2026-12-01T00:00:00Z');
    const usage = await admin.get(`/api/v1/users/${user.id}/usage`);
    expect(usage.body).toMatchObject({ month: '2026-12', meters: { minutes: { used: 0, state: 'ok' } } });
    expect((await host.get(`/api/v1/usage/check?user_id=${user.id}&meter=minutes`)).body.allowed).toBe(true);
    // A late report dated in November counts for November, not December.
    await report({ user_id: user.id, meter: 'minutes', amount: 3, at: '2026-11-30T23:00:00Z' });
    expect((await admin.get(`/api/v1/users/${user.id}/usage`)).body.meters.minutes.used).toBe(0);
    now = new Date('2026-11-15T12:00:00Z');
  });

  test('a retried report with the same idempotency key is counted once', async () => {
    const user = await userWithBudgets(null, null);
    const body = { user_id: user.id, meter: 'minutes', amount: 2.5, source: 'openai-whisper', idempotency_key: `job-${user.id}` };
    const first = await report(body);
    const retry = await report(body);
    expect(first.status).toBe(201);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ recorded: false, usage: { used: 2.5 } });
    const { n } = (await server.sql`SELECT count(*)::int AS n FROM usage_events WHERE user_id = ${user.id}`)[0]!;
    expect(n).toBe(1);
  });

  test('estimated cost per source from the configured unit prices', async () => {
    const user = await userWithBudgets(null, null);
    await report({ user_id: user.id, meter: 'minutes', amount: 100, source: 'openai-whisper' });
    await report({ user_id: user.id, meter: 'minutes', amount: 50, source: 'self-hosted' });
    await report({ user_id: user.id, meter: 'tokens', amount: 100_000, source: 'gpt' });
    const cost = (await admin.get(`/api/v1/users/${user.id}/usage`)).body.cost;
    expect(cost.total_usd).toBeCloseTo(0.6 + 0 + 1, 6);
    expect(cost.by_source).toEqual(
      expect.arrayContaining([
        { source: 'openai-whisper', meter: 'minutes', amount: 100, usd: expect.closeTo(0.6, 6) },
        { source: 'self-hosted', meter: 'minutes', amount: 50, usd: 0 },
      ]),
    );
  });

  test('bad reports are 400 and record nothing; unknown users are 404; only admins/system keys report', async () => {
    const user = await userWithBudgets(null, null);
    for (const [body, field] of [
      [{ user_id: user.id, meter: 'bytes', amount: 1 }, 'meter'],
      [{ user_id: user.id, meter: 'tokens', amount: 0 }, 'amount'],
      [{ user_id: user.id, meter: 'tokens', amount: -5 }, 'amount'],
      [{ user_id: user.id, meter: 'tokens', amount: '5' }, 'amount'],
      [{ user_id: 'x', meter: 'tokens', amount: 5 }, 'user_id'],
      [{ user_id: user.id, meter: 'tokens', amount: 5, at: 'yesterday' }, 'at'],
      [{ user_id: user.id, meter: 'tokens', amount: 5, cost: 3 }, 'cost'],
    ] as const) {
      const response = await report(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.fields).toHaveProperty(field);
    }
    expect((await report({ user_id: '00000000-0000-0000-0000-000000000000', meter: 'tokens', amount: 1 })).status).toBe(404);
    const { client: plain } = await signedInClient(server);
    expect((await plain.post('/api/v1/usage', { user_id: user.id, meter: 'tokens', amount: 1 })).status).toBe(403);
    const { n } = (await server.sql`SELECT count(*)::int AS n FROM usage_events WHERE user_id = ${user.id}`)[0]!;
    expect(n).toBe(0);
  });

  test('a user sees their own usage, not others\'', async () => {
    const { client, user } = await signedInClient(server);
    const other = await createTestUser(server);
    expect((await client.get(`/api/v1/users/${user.id}/usage`)).status).toBe(200);
    expect((await client.get(`/api/v1/users/${other.id}/usage`)).status).toBe(403);
  });

  test('a report is pushed live to a connected admin, and the table shows usage per user', async () => {
    const user = await userWithBudgets(100_000, null);
    const watcher = await LiveClient.connect(server, admin.cookie);
    await report({ user_id: user.id, meter: 'tokens', amount: 85_000, source: 'gpt' });
    const event = await watcher.event((e) => e.action === 'usage.recorded' && e.target_id === user.id, 'usage.recorded');
    expect(event.data).toMatchObject({ meter: 'tokens', amount: 85_000, usage: { used: 85_000, budget: 100_000, state: 'warning' } });
    watcher.close();
    const list = await admin.get(`/api/v1/users?q=${user.username}`);
    expect(list.body.items[0].usage.tokens).toMatchObject({ used: 85_000, state: 'warning' });
  });

  test('statistics overview covers users, sign-ins, usage by month, top consumers and storage', async () => {
    const stats = await admin.get('/api/v1/stats/overview');
    expect(stats.status).toBe(200);
    expect(stats.body.days).toHaveLength(30);
    expect(stats.body.usage_by_month).toHaveLength(12);
    expect(stats.body.usage_by_month.at(-1).month).toBe('2026-11');
    expect(stats.body.usage_by_month.at(-1).tokens).toBeGreaterThan(0);
    expect(stats.body.top_consumers.length).toBeGreaterThan(0);
    expect(stats.body.users_by_role.admin).toBeGreaterThanOrEqual(1);
    // Every role and status is present, zero included, so the charts keep their categories.
    expect(Object.keys(stats.body.users_by_role).sort()).toEqual(['admin', 'moderator', 'user']);
    expect(Object.keys(stats.body.users_by_status).sort()).toEqual(['active', 'inactive']);
  });
});
