// Over 300 lines for a reason: the input and header hardening of every route, one describe per attack class, sharing the generators of awkward values below.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { errorStatus } from '@roster/shared';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { writableState } from '../helpers/database.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer({ env: { ALLOW_REGISTRATION: 'true' } });
let admin: ApiClient;
let adminId: string;
let targetId: string;
let projectId: string;

beforeAll(async () => {
  const signedIn = await signedInClient(server, { role: 'admin' });
  admin = signedIn.client;
  adminId = signedIn.user.id;
  targetId = (await createTestUser(server)).id;
  projectId = (await admin.post('/api/v1/projects', { name: 'fuzzed', owner_id: targetId })).body.project.id;
});

const snapshot = () => writableState(server.sql);

const DAY = 24 * 3600 * 1000;
const isoFromNow = (ms: number) => new Date(Date.now() + ms).toISOString();

// Awkward text: zero-width and direction marks, emoji, NUL, lone surrogates, very long strings.
const loneSurrogate = fc
  .tuple(fc.string({ maxLength: 3 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 3 }))
  .map(([before, unit, after]) => before + String.fromCharCode(unit) + after);
const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  loneSurrogate,
  fc.constantFrom(
    '\u200b', '\u202e', '\u2066x\u2069', '\ufeff', '\uffff', 'e' + '\u0301'.repeat(50), '👩🏽‍💻', '\ud83d\ude00', '💥'.repeat(50),
    '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud800', '\udc00\ud800',
    'x'.repeat(20_000), 'é'.repeat(300_000), '<script>alert(1)</script>', "'; DROP TABLE users; --",
  ),
);
// Numbers around the limits of PostgreSQL's integer and bigint and of JavaScript's safe integers, and text that looks like one.
const edgeNumber = fc.oneof(
  fc.constantFrom(2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 63, 2 ** 64, 1e9, 1e9 + 1, 1e12, 1e12 + 10_000, 1e15, 5e-324),
  fc.integer({ min: 2 ** 31 - 3, max: 2 ** 31 + 3 }),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e400', '0x10', ' 12 ', '', '１２', '-0', '2147483648'),
);
// Date-times at and around the edges of what is accepted, and ones that are not dates at all.
const edgeDate = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: -3 * DAY, max: 3 * DAY }).map(isoFromNow),
  fc.integer({ min: 5 * 365 * DAY, max: 6 * 366 * DAY }).map(isoFromNow),
  fc.constantFrom('0000-01-01T00:00:00Z', '1999-12-31T23:59:59.999Z', '2000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '+275760-09-13T00:00:00.000Z', '2026-02-29T00:00:00Z', '2000-01-01T00:00:00+14:00', '2000-01-01T24:00:00Z'),
);
// The edge cases weigh more than plain junk: they are where a schema and its column disagree.
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyString, weight: 3 },
  { arbitrary: edgeNumber, weight: 3 },
  { arbitrary: edgeDate, weight: 2 },
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, 1e308, -1e-308, true, false, null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);
/**
 * JSON text rather than values, so a property can send what `JSON.stringify` cannot build (it
 * recurses, and overflows the stack on 20,000 levels) or would round (numbers beyond a double).
 */
const nested = (levels: number, open: '[' | '{"a":', leaf: string) => open.repeat(levels) + leaf + (open === '[' ? ']' : '}').repeat(levels);
const deepJson = fc
  .tuple(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 40, max: 30_000 })), fc.constantFrom('[' as const, '{"a":' as const), fc.constantFrom('1', '"\\u0000"', '"\\ud800"', '{}'))
  .map(([levels, open, leaf]) => nested(levels, open, leaf));
const rawNumber = fc.constantFrom('1e400', '-1e400', '-0', '1E2', '9007199254740993', '18446744073709551616', '0.0000000000000000000001', '1' + '0'.repeat(400));
const nastyJson = fc.oneof({ arbitrary: nastyValue.map((value) => JSON.stringify(value)), weight: 4 }, deepJson, rawNumber);

/** Tried in every field of every write route before the random runs: the inputs issue 11 (item 15) found answering 500. */
const knownEdges = [
  nested(20_000, '[', '1'), nested(20_000, '{"a":', '{}'), '3000000000', String(2 ** 31), String(2 ** 53 - 1), '-2147483649', '"NaN"',
  '"0000-01-01T00:00:00Z"', '"9999-12-31T23:59:59Z"', '"\\ud800x"', '"x\\udfff"', '"a\\u0000b"', '"constructor"',
];

const fieldNames = ['username', 'display_name', 'email', 'role', 'status', 'password', 'version', 'name', 'owner_id', 'user_id', 'meter', 'amount', 'source', 'at', 'idempotency_key', 'expires_at', 'system', 'item_count', 'size_bytes', 'member_ids', 'ids', 'action', 'login', 'token', 'current_password', 'new_password', 'revoke_sessions', 'generate_password', 'token_budget', 'minute_budget', 'id', 'created_at', 'password_hash', '__proto__', 'constructor'];
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...fieldNames), nastyValue, { maxKeys: 8 }).map((value) => JSON.stringify(value)),
  fc.anything().map((value) => JSON.stringify(value) ?? 'undefined'),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  deepJson,
  rawNumber,
);

/**
 * Every write route with a valid body, which the property also sends with one field made nasty.
 * `#n` and the `#…-version` placeholders are filled in before each request (`current`), so the
 * valid rest of a body stays valid run after run and the nasty field is what reaches the database.
 */
const writeRoutes: [string, string, Record<string, unknown>][] = [
  ['POST', '/api/v1/users', { username: 'fuzzy-#n', display_name: 'Fuzzy', email: 'fuzzy-#n@example.com', password: 'a long passphrase', token_budget: 100_000, minute_budget: 10 }],
  ['PATCH', '/api/v1/users/:target', { version: '#target-version', display_name: 'Renamed', token_budget: 200_000, minute_budget: 20 }],
  ['PUT', '/api/v1/users/:target/password', { password: 'a long passphrase', revoke_sessions: true }],
  ['POST', '/api/v1/users/bulk', { ids: [':target'], action: 'set_role', role: 'user' }],
  ['PATCH', '/api/v1/me', { display_name: 'Me', email: 'me-fuzz@example.com', version: '#own-version' }],
  ['PUT', '/api/v1/me/password', { current_password: 'correct horse battery', new_password: 'correct horse battery' }],
  ['POST', '/api/v1/auth/register', { username: 'fuzzreg-#n', display_name: 'F', email: 'fuzzreg-#n@example.com', password: 'a long passphrase' }],
  ['POST', '/api/v1/auth/login', { login: 'nobody', password: 'a long passphrase' }],
  ['POST', '/api/v1/setup', { token: 'x', username: 'fuzzset', display_name: 'F', email: 'fuzzset@example.com', password: 'a long passphrase' }],
  ['POST', '/api/v1/api-keys', { name: 'fuzzed key', expires_at: isoFromNow(30 * DAY) }],
  ['POST', '/api/v1/projects', { name: 'fuzzed project', owner_id: ':target', item_count: 1, size_bytes: 1, member_ids: [] }],
  ['PATCH', '/api/v1/projects/:project', { name: 'renamed project', version: '#project-version', item_count: 2, size_bytes: 2 }],
  ['POST', '/api/v1/projects/:project/members', { user_id: ':target' }],
  ['POST', '/api/v1/usage', { user_id: ':target', meter: 'tokens', amount: 1, source: 'fuzz', at: isoFromNow(0), idempotency_key: 'fuzz-#n' }],
];

let runs = 0;
/** A body with its placeholders filled from the database as it is now. */
async function current(rawBody: string): Promise<string> {
  runs += 1;
  const [row] = await server.sql<{ target: number; own: number; project: number }[]>`
    SELECT (SELECT version FROM users WHERE id = ${targetId}) AS target,
           (SELECT version FROM users WHERE id = ${adminId}) AS own,
           (SELECT version FROM projects WHERE id = ${projectId}) AS project`;
  return rawBody
    .replaceAll('#n', String(runs))
    .replaceAll('"#target-version"', String(row!.target))
    .replaceAll('"#own-version"', String(row!.own))
    .replaceAll('"#project-version"', String(row!.project));
}

/** A valid body as JSON text, with `key` set to the JSON text `json`. */
function withField(base: Record<string, unknown>, key: string, json: string): string {
  const rest = Object.entries(base).filter(([name]) => name !== key).map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`);
  return `{${[`${JSON.stringify(key)}:${json}`, ...rest].join(',')}}`;
}

/** A valid body with one of its fields replaced by nasty JSON (or a nasty extra field). */
function mutated(base: Record<string, unknown>): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...Object.keys(base), 'extra'), nastyJson).map(([key, json]) => withField(base, key, json));
}

/** What every refusal looks like: the error code's own status, a message, and for a validation failure the fields at fault. */
function expectErrorBody(response: { status: number; body: any }, what: string) {
  const code = response.body?.error?.code as keyof typeof errorStatus;
  expect(errorStatus[code], `${what} → ${JSON.stringify(response.body).slice(0, 300)}`).toBe(response.status);
  expect(typeof response.body.error.message).toBe('string');
  if (code === 'validation_failed') {
    const messages = Object.values(response.body.error.fields ?? {});
    expect(messages.length, `${what} → ${JSON.stringify(response.body).slice(0, 300)}`).toBeGreaterThan(0);
    for (const message of messages) expect(message, what).toMatch(/\S/);
  }
}

describe('property: random and malformed bodies on every write route', () => {
  for (const [method, template, base] of writeRoutes) {
    test(`${method} ${template}`, async () => {
      const path = template.replace(':target', targetId).replace(':project', projectId);
      const valid = JSON.parse(JSON.stringify(base).replaceAll(':target', targetId)) as Record<string, unknown>;
      const examples = Object.keys(valid).flatMap((key) => knownEdges.map((json): [string] => [withField(valid, key, json)]));
      await fc.assert(
        fc.asyncProperty(fc.oneof(body, mutated(valid)), async (generated) => {
          const rawBody = await current(generated);
          const before = await snapshot();
          // Routes that sign in get a cookie jar of their own, so a successful registration does not replace the admin's session.
          const client = /\/(auth|setup)/.test(path) ? new ApiClient(server) : admin;
          const response = await client.request(method, path, undefined, { rawBody });
          const what = rawBody.slice(0, 200);
          expect(response.status, what).toBeLessThan(500);
          if (response.status >= 400) {
            expectErrorBody(response, what);
            expect(await snapshot(), what).toBe(before);
          }
        }),
        // Examples count towards numRuns: 60 random runs after all of them.
        { numRuns: examples.length + 60, examples },
      );
    });
  }
});

describe('property: random query strings on every route that reads one', () => {
  const queryRoutes: [string, string[]][] = [
    ['/api/v1/users', ['q', 'role', 'status', 'sort', 'cursor', 'limit']],
    ['/api/v1/events', ['before', 'after', 'actor_id', 'target_id', 'action', 'limit']],
    ['/api/v1/usage/check', ['user_id', 'meter', 'amount']],
    ['/api/v1/sessions', ['user_id']],
    ['/api/v1/projects', ['user_id']],
  ];
  // Node refuses a request line over 16 KiB itself (431, before the app sees it), so values stay shorter.
  const queryValue = fc
    .oneof(nastyString, edgeNumber.map(String), edgeDate, rawNumber, fc.constantFrom('%', '%ED%A0%80', '%00', '%C0%80', '[]', 'a&b=c'))
    .map((value) => value.slice(0, 2000));
  for (const [path, names] of queryRoutes) {
    test(`GET ${path}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.dictionary(fc.constantFrom(...names, 'extra'), queryValue, { minKeys: 1, maxKeys: 3 }), async (params) => {
          // Some values arrive raw (already percent-encoded, or broken encodings), the rest encoded.
          // A URL carries UTF-8, where a lone surrogate has no encoding: it arrives as U+FFFD, or raw as %ED%A0%80 (a constant above).
          const encode = (value: string) => encodeURIComponent(value.replace(/\p{Cs}/gu, '\ufffd'));
          const query = Object.entries(params).map(([name, value]) => `${name}=${/^%|&/.test(value) ? value : encode(value)}`);
          const url = `${path}?${query.join('&')}`;
          const response = await admin.get(url);
          expect(response.status, url.slice(0, 200)).toBeLessThan(500);
          if (response.status >= 400) expectErrorBody(response, url.slice(0, 200));
        }),
        { numRuns: 60 },
      );
    });
  }
});

describe('query strings', () => {
  test('NUL characters and nasty values in query parameters get 400, never 500', async () => {
    const queries = [
      `/api/v1/events?action=%00`,
      `/api/v1/events?target_id=a%00b`,
      `/api/v1/users?q=%00`,
      `/api/v1/users?q=${encodeURIComponent('\u202e💥\u200b')}`,
      `/api/v1/sessions?user_id=%00`,
      `/api/v1/projects?user_id=${'x'.repeat(5000)}`,
      `/api/v1/usage/check?user_id=${targetId}&meter=tokens&amount=1e400`,
      `/api/v1/events?before=1e30`,
    ];
    for (const query of queries) {
      const response = await admin.get(query);
      expect(response.status, query).toBeLessThan(500);
      if (response.status >= 400) expect(errorStatus[response.body.error.code as keyof typeof errorStatus], query).toBe(response.status);
    }
    expect((await admin.get('/api/v1/events?action=%00')).body.error.fields).toEqual({ action: 'Must not contain NUL characters' });
  });
});

describe('mass assignment', () => {
  const protectedFields = { role: 'admin', status: 'inactive', version: 99, password_hash: 'x', id: '00000000-0000-0000-0000-000000000009', created_at: '2000-01-01T00:00:00Z' };

  test('no body sets a field its schema does not name', async () => {
    const cases: [string, string, Record<string, unknown>, string[]][] = [
      ['POST', '/api/v1/users', { username: 'massive', display_name: 'M', email: 'massive@example.com', generate_password: true }, ['status', 'version', 'password_hash', 'id', 'created_at']],
      ['PATCH', '/api/v1/me', { display_name: 'Me' }, ['role', 'status', 'password_hash', 'id', 'created_at']],
      ['POST', '/api/v1/auth/register', { username: 'walkin2', display_name: 'W', email: 'walkin2@example.com', password: 'a long passphrase' }, Object.keys(protectedFields)],
      ['PATCH', `/api/v1/users/${targetId}`, { version: 1, display_name: 'T' }, ['password_hash', 'id', 'created_at']],
      ['POST', '/api/v1/api-keys', { name: 'k' }, ['id', 'created_at', 'user_id']],
      ['POST', '/api/v1/projects', { name: 'p', owner_id: targetId }, ['id', 'version', 'created_at']],
    ];
    for (const [method, path, valid, fields] of cases) {
      for (const field of fields) {
        const before = await snapshot();
        const response = await admin.request(method, path, { ...valid, [field]: (protectedFields as Record<string, unknown>)[field] ?? 'x' });
        expect(response.status, `${method} ${path} + ${field} ${JSON.stringify(response.body)}`).toBe(400);
        expect(response.body.error.fields, `${method} ${path} + ${field}`).toEqual({ [field]: 'Unknown field' });
        expect(await snapshot()).toBe(before);
      }
    }
  });

  test('duplicate keys cannot smuggle a field past the schema', async () => {
    const { client } = await signedInClient(server);
    for (const rawBody of ['{"display_name":"x","role":"user","role":"admin"}', '{"display_name":"x","display_name":"y","__proto__":{"role":"admin"}}']) {
      const response = await client.request('PATCH', '/api/v1/me', undefined, { rawBody });
      expect(response.status, rawBody).toBe(400);
    }
  });

  test('a user cannot raise their own role through any route', async () => {
    const { client, user } = await signedInClient(server);
    const attempts: [string, string, unknown][] = [
      ['PATCH', '/api/v1/me', { role: 'admin' }],
      ['PATCH', `/api/v1/users/${user.id}`, { version: user.version, role: 'admin' }],
      ['POST', '/api/v1/users/bulk', { ids: [user.id], action: 'set_role', role: 'admin' }],
      ['POST', '/api/v1/users', { username: 'sock', display_name: 'S', email: 'sock@example.com', role: 'admin', generate_password: true }],
      ['POST', '/api/v1/api-keys', { name: 'escalate', system: true }],
      ['POST', '/api/v1/auth/register', { username: 'sock2', display_name: 'S', email: 'sock2@example.com', password: 'a long passphrase', role: 'admin' }],
    ];
    for (const [method, path, payload] of attempts) {
      const response = await client.request(method, path, payload);
      expect([400, 403], `${method} ${path}`).toContain(response.status);
    }
    const [row] = await server.sql`SELECT role FROM users WHERE id = ${user.id}`;
    expect(row!.role).toBe('user');
    expect(await server.sql`SELECT 1 FROM users WHERE username IN ('sock', 'sock2')`).toHaveLength(0);
  });
});

describe('passwords', () => {
  test('the most common passwords and ones containing the username or email are refused everywhere', async () => {
    const { client, user } = await signedInClient(server, { username: 'zelda', email: 'zelda.x@example.com' });
    const cases: [string, string, Record<string, unknown>, string][] = [
      ['POST', '/api/v1/users', { username: 'quorra', display_name: 'Q', email: 'quorra@example.com', password: 'password1' }, 'password'],
      ['POST', '/api/v1/users', { username: 'quorra', display_name: 'Q', email: 'quorra@example.com', password: 'QWERTYUIOP' }, 'password'],
      ['POST', '/api/v1/users', { username: 'quorra', display_name: 'Q', email: 'quorra@example.com', password: 'my-quorra-pass' }, 'password'],
      ['POST', '/api/v1/auth/register', { username: 'rinzler', display_name: 'R', email: 'tron.legacy@example.com', password: 'tron.legacy!!' }, 'password'],
      ['PUT', `/api/v1/users/${user.id}/password`, { password: 'iloveyou' }, 'password'],
      ['PUT', `/api/v1/users/${user.id}/password`, { password: 'ZeldaRules2026' }, 'password'],
    ];
    for (const [method, path, payload, field] of cases) {
      const response = await admin.request(method, path, payload);
      expect(response.status, JSON.stringify(payload)).toBe(400);
      expect(response.body.error.fields[field]).toMatch(/most common|username or email/);
    }
    const own = await client.put('/api/v1/me/password', { current_password: user.password, new_password: 'zelda.x-forever' });
    expect(own.status).toBe(400);
    expect(own.body.error.fields.new_password).toMatch(/username or email/);
    expect((await admin.put(`/api/v1/users/${user.id}/password`, { password: 'a fine long phrase' })).status).toBe(200);
  });
});

describe('headers', () => {
  test('API responses carry the security headers, errors too; no HSTS over plain HTTP', async () => {
    for (const response of [await new ApiClient(server).get('/api/v1/setup'), await new ApiClient(server).get('/api/v1/auth/me'), await new ApiClient(server).get('/healthz')]) {
      // An API response is never a page: it may load nothing and be framed by nobody.
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('same-origin');
      expect(response.headers.get('strict-transport-security')).toBeNull();
    }
  });

  test('the console\'s pages allow scripts only from the server and the one pinned bootstrap script', async () => {
    const web = await startTestServer({ web: true, databaseUrl: server.databaseUrl });
    try {
      const shell = await new ApiClient(web).get('/users');
      const csp = shell.headers.get('content-security-policy')!;
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).toMatch(/script-src 'self' 'sha256-[\w+/=]+'/);
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(shell.headers.get('x-frame-options')).toBe('DENY');
    } finally {
      await web.close();
    }
  });

  test('API responses, which carry personal data, are never stored by caches; the console files keep their caching', async () => {
    const web = await startTestServer({ web: true, databaseUrl: server.databaseUrl });
    try {
      const anonymous = new ApiClient(web);
      const responses = [
        await admin.get('/api/v1/auth/me'),
        await admin.get(`/api/v1/users/${targetId}/export`),
        await admin.get('/api/v1/users?limit=1'),
        await anonymous.get('/api/v1/auth/me'),
        await anonymous.post('/api/v1/auth/login', { login: 'x' }),
        await anonymous.get('/api/v1/no-such-route'),
        await anonymous.get('/api/v1/setup'),
      ];
      for (const response of responses) expect(response.headers.get('cache-control'), String(response.status)).toBe('no-store');
      const shell = await anonymous.get('/users');
      const script = /src="(\/_app\/immutable\/[^"]+\.js)"|import\("(\/_app\/immutable\/[^"]+\.js)"\)/.exec(shell.body as string);
      expect(script, 'an immutable asset in the shell').not.toBeNull();
      expect((await anonymous.get(script![1] ?? script![2]!)).headers.get('cache-control')).not.toBe('no-store');
      expect(shell.headers.get('cache-control')).not.toBe('no-store');
    } finally {
      await web.close();
    }
  });

  test('HSTS when served over HTTPS', async () => {
    const https = await startTestServer({ env: { ROSTER_ORIGIN: 'https://roster.example.com' } });
    try {
      const response = await new ApiClient(https).get('/healthz');
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    } finally {
      await https.close();
    }
  });
});

describe('login abuse across nodes', () => {
  test('failures through one node count on another: the limits live in PostgreSQL', async () => {
    const nodeA = await startTestServer({ env: { LOGIN_MAX_FAILURES: '4' } });
    const nodeB = await startTestServer({ databaseUrl: nodeA.databaseUrl, env: { LOGIN_MAX_FAILURES: '4' } });
    try {
      const user = await createTestUser(nodeA);
      for (const node of [nodeA, nodeB, nodeA, nodeB]) {
        expect((await new ApiClient(node).post('/api/v1/auth/login', { login: user.username, password: 'wrong wrong' })).status).toBe(401);
      }
      for (const node of [nodeA, nodeB]) {
        const response = await new ApiClient(node).post('/api/v1/auth/login', { login: user.username, password: user.password });
        expect(response.status).toBe(429);
      }
      const failures = await nodeA.sql`SELECT ip FROM events WHERE action = 'auth.login_failed' AND target_id = ${user.id}`;
      expect(failures).toHaveLength(4);
      expect(failures.every((f) => f.ip)).toBe(true);
    } finally {
      await nodeB.close();
      await nodeA.close();
    }
  });
});
