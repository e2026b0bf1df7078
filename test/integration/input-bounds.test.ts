import { beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { writableState } from '../helpers/database.ts';
import { useTestServer } from '../helpers/server.ts';

// Issue 11, item 15: inputs that still reached the database (or a recursive check) and got a 500.

const server = useTestServer({ env: { USAGE_PRICES: '{"openai-whisper": 0.006}' } });
let admin: ApiClient;
let adminVersion: number;
let host: ApiClient;
let targetId: string;
let projectId: string;

beforeAll(async () => {
  const signedIn = await signedInClient(server, { role: 'admin' });
  admin = signedIn.client;
  adminVersion = signedIn.user.version;
  const { key } = (await admin.post('/api/v1/api-keys', { name: 'host app', system: true })).body;
  host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
  targetId = (await createTestUser(server)).id;
  projectId = (await admin.post('/api/v1/projects', { name: 'bounded', owner_id: targetId })).body.project.id;
});

/**
 * Sends a request that must be refused: 400 `validation_failed` naming `field` (with a message
 * matching `message` when given), and nothing written.
 */
async function expectRefused(client: ApiClient, method: string, path: string, body: unknown, field: string, message?: RegExp) {
  const before = await writableState(server.sql);
  const rawBody = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await client.request(method, path, undefined, { rawBody });
  const what = `${method} ${path} ${rawBody.slice(0, 120)}`;
  expect(response.status, `${what} → ${JSON.stringify(response.body)}`).toBe(400);
  expect(response.body.error.code, what).toBe('validation_failed');
  expect(response.body.error.fields, what).toHaveProperty([field]);
  if (message) expect(response.body.error.fields[field], what).toMatch(message);
  expect(await writableState(server.sql), what).toBe(before);
}

/** `levels` nested arrays (or objects under `a`), innermost empty. */
const nestedArray = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const nestedObject = (levels: number) => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);

describe('nesting depth', () => {
  test('a body nested 20,000 deep is a 400, signed in or not, on every kind of route', async () => {
    // Named by the top-level field the nesting is under, or `_` when the body itself is an array.
    await expectRefused(new ApiClient(server), 'POST', '/api/v1/auth/login', nestedArray(20_000), '_', /nested/i);
    await expectRefused(new ApiClient(server), 'POST', '/api/v1/auth/login', nestedObject(20_000), 'a', /nested/i);
    // As deep as fits in the 1 MiB a body may have.
    await expectRefused(admin, 'PATCH', '/api/v1/me', nestedArray(500_000), '_', /nested/i);
    for (const value of [nestedArray(20_000), nestedObject(20_000)]) {
      await expectRefused(new ApiClient(server), 'POST', '/api/v1/auth/login', `{"login":${value},"password":"x"}`, 'login', /nested/i);
      await expectRefused(admin, 'PATCH', '/api/v1/me', `{"display_name":${value}}`, 'display_name', /nested/i);
      await expectRefused(host, 'POST', '/api/v1/usage', `{"user_id":"${targetId}","meter":"tokens","amount":1,"source":${value}}`, 'source', /nested/i);
    }
  });

  test('32 levels are left to the schema; the 33rd is refused for its depth', async () => {
    // The body itself is the first level.
    const atLimit = await admin.request('PATCH', '/api/v1/me', undefined, { rawBody: `{"display_name":${nestedArray(31)}}` });
    expect(atLimit.status).toBe(400);
    expect(atLimit.body.error.fields.display_name).not.toMatch(/nested/i);
    await expectRefused(admin, 'PATCH', '/api/v1/me', `{"display_name":${nestedArray(32)}}`, 'display_name', /at most 32/);
  });
});

describe('numbers fit their columns', () => {
  test('budgets: a sensible maximum, far below the integer and bigint limits', async () => {
    const user = await createTestUser(server);
    for (const minute_budget of [3_000_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1_000_000_010]) {
      await expectRefused(admin, 'PATCH', `/api/v1/users/${user.id}`, { version: user.version, minute_budget }, 'minute_budget', /at most/);
    }
    for (const token_budget of [2 ** 63, 9_007_199_254_740_000, 1_000_000_010_000]) {
      await expectRefused(admin, 'PATCH', `/api/v1/users/${user.id}`, { version: user.version, token_budget }, 'token_budget', /at most/);
    }
    const body = { username: 'hugebudget', display_name: 'H', email: 'huge@example.com', generate_password: true };
    await expectRefused(admin, 'POST', '/api/v1/users', { ...body, minute_budget: 3_000_000_000 }, 'minute_budget');
    const largest = await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, minute_budget: 1_000_000_000, token_budget: 1_000_000_000_000 });
    expect(largest.status, JSON.stringify(largest.body)).toBe(200);
    expect(largest.body.user).toMatchObject({ minute_budget: 1_000_000_000, token_budget: 1_000_000_000_000 });
  });

  test('versions beyond the integer column are refused, not compared in SQL', async () => {
    const user = await createTestUser(server);
    for (const version of [2 ** 31, 3_000_000_000, 2 ** 53 - 1]) {
      await expectRefused(admin, 'PATCH', `/api/v1/users/${user.id}`, { version, display_name: 'V' }, 'version');
      await expectRefused(admin, 'PATCH', '/api/v1/me', { version, display_name: 'V' }, 'version');
      await expectRefused(admin, 'PATCH', `/api/v1/projects/${projectId}`, { version, name: 'V' }, 'version');
    }
    expect((await admin.patch('/api/v1/me', { version: adminVersion, display_name: 'Still me' })).status).toBe(200);
  });
});

describe('dates', () => {
  const report = (at: string) => ({ user_id: targetId, meter: 'tokens', amount: 1, at });
  const fromNow = (ms: number) => new Date(Date.now() + ms).toISOString();
  const HOUR = 3600 * 1000;

  test('usage is dated from 2000-01-01 to a day ahead of the server clock', async () => {
    for (const at of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '1999-12-31T23:59:59.999Z', '9999-12-31T23:59:59Z', fromNow(25 * HOUR)]) {
      await expectRefused(host, 'POST', '/api/v1/usage', report(at), 'at', /2000|day/);
    }
    for (const at of ['2000-01-01T00:00:00Z', '2000-01-01T01:00:00+01:00', fromNow(23 * HOUR)]) {
      const response = await host.post('/api/v1/usage', report(at));
      expect(response.status, `${at} → ${JSON.stringify(response.body)}`).toBe(201);
    }
  });

  test('an API key expires at most 5 years from now', async () => {
    const YEAR = 365 * 24 * HOUR;
    for (const expires_at of ['9999-12-31T23:59:59Z', fromNow(5 * YEAR + 2 * 24 * HOUR), fromNow(100 * YEAR), '0000-01-01T00:00:00Z']) {
      await expectRefused(admin, 'POST', '/api/v1/api-keys', { name: 'far', expires_at }, 'expires_at');
    }
    expect((await admin.post('/api/v1/api-keys', { name: 'near', expires_at: fromNow(4 * YEAR) })).status).toBe(201);
  });
});

describe('unicode', () => {
  test('a lone surrogate is refused under its field in every body, keys included', async () => {
    const usage = { user_id: targetId, meter: 'tokens', amount: 1 };
    for (const bad of ['\ud800x', 'x\udfff', '\udc00\ud800', '\ud83d']) {
      await expectRefused(host, 'POST', '/api/v1/usage', { ...usage, source: bad }, 'source', /surrogate/);
      await expectRefused(host, 'POST', '/api/v1/usage', { ...usage, idempotency_key: bad }, 'idempotency_key', /surrogate/);
      await expectRefused(admin, 'POST', '/api/v1/users', { username: 'lone', display_name: bad, email: 'lone@example.com', generate_password: true }, 'display_name', /surrogate/);
      await expectRefused(admin, 'PATCH', `/api/v1/projects/${projectId}`, { name: bad }, 'name', /surrogate/);
      await expectRefused(admin, 'POST', '/api/v1/api-keys', { name: bad }, 'name', /surrogate/);
      await expectRefused(new ApiClient(server), 'POST', '/api/v1/auth/login', { login: bad, password: 'a long passphrase' }, 'login', /surrogate/);
      await expectRefused(admin, 'PATCH', '/api/v1/me', { display_name: 'x', [bad]: 1 }, bad, /surrogate/);
    }
  });

  test('well-formed text of every kind is stored exactly: astral emoji, joiners, direction marks, combining marks', async () => {
    // (Leading and trailing white space, U+FEFF included, is trimmed by the schema, so marks sit inside.)
    const names = ['👩🏽‍💻 Ada', '\u202eevil\u202c', 'a\u200bb', 'e\u0301\u0301', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'b\ufeffom', '\uffff', '\u2066x\u2069'];
    for (const name of names) {
      const response = await admin.patch(`/api/v1/projects/${projectId}`, { name });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body.project.name).toBe(name);
    }
  });
});

describe('prices by source', () => {
  test('sources named like Object.prototype members cost nothing and keep the statistics numeric', async () => {
    const user = await createTestUser(server);
    const sources = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'openai-whisper'];
    for (const source of sources) {
      const response = await host.post('/api/v1/usage', { user_id: user.id, meter: 'minutes', amount: 10, source });
      expect(response.status, source).toBe(201);
    }
    const usage = (await admin.get(`/api/v1/users/${user.id}/usage`)).body;
    expect(usage.cost.total_usd).toBeCloseTo(0.06, 9);
    for (const entry of usage.cost.by_source) {
      expect(entry.usd, entry.source).toBe(entry.source === 'openai-whisper' ? 0.06 : 0);
    }
    const overview = await admin.get('/api/v1/stats/overview');
    expect(overview.status).toBe(200);
    const consumer = overview.body.top_consumers.find((c: { user_id: string }) => c.user_id === user.id);
    expect(consumer).toMatchObject({ minutes: 60, usd: expect.closeTo(0.06, 9) });
    for (const c of overview.body.top_consumers) expect(typeof c.usd, c.username).toBe('number');
  });
});

describe('query strings', () => {
  test('numbers out of range in query strings are a 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/api/v1/events?before=9007199254740993', 'before'],
      ['/api/v1/events?before=1e400', 'before'],
      ['/api/v1/events?after=-1', 'after'],
      ['/api/v1/events?after=NaN', 'after'],
      ['/api/v1/events?limit=0', 'limit'],
      ['/api/v1/events?limit=201', 'limit'],
      ['/api/v1/events?limit=1.5', 'limit'],
      ['/api/v1/users?limit=Infinity', 'limit'],
      [`/api/v1/usage/check?user_id=${targetId}&meter=tokens&amount=1e13`, 'amount'],
      [`/api/v1/usage/check?user_id=${targetId}&meter=tokens&amount=-0`, 'amount'],
      [`/api/v1/usage/check?user_id=${targetId}&meter=tokens&amount=NaN`, 'amount'],
    ];
    for (const [path, field] of cases) {
      const response = await host.get(path);
      expect(response.status, `${path} → ${JSON.stringify(response.body)}`).toBe(400);
      expect(response.body.error.fields, path).toHaveProperty([field]);
    }
    expect((await host.get('/api/v1/events?before=9007199254740991&limit=200')).status).toBe(200);
  });
});
