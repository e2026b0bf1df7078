import { describe, expect, test } from 'vitest';
import { ApiClient, connectSocket, createTestUser, signedInClient } from '../helpers/clients.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_IP: '1000' } });

async function sessionRow(client: ApiClient) {
  const me = await client.get('/api/v1/auth/me');
  const [row] = await server.sql`SELECT * FROM sessions WHERE id = ${me.body.session.id}`;
  return row!;
}

describe('sign-in', () => {
  test('by username or email, case-insensitively; the cookie is HttpOnly, SameSite=Lax, Path=/', async () => {
    const user = await createTestUser(server, { username: 'ada', email: 'Ada@Example.com' });
    for (const login of ['ada', 'ADA', 'ada@example.com', 'ADA@example.COM']) {
      const client = new ApiClient(server);
      const response = await client.post('/api/v1/auth/login', { login, password: user.password });
      expect(response.status).toBe(200);
      expect(response.body.user.id).toBe(user.id);
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith('roster_session='))!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      expect(cookie).toMatch(/Path=\//);
      expect(cookie).not.toMatch(/Secure/);
      expect(client.sessionToken).toMatch(/^[a-z2-7]{32}$/);
    }
  });

  test('stores only the SHA-256 of the token and records the client', async () => {
    const { client, user } = await signedInClient(server);
    const rows = await server.sql`SELECT * FROM sessions WHERE user_id = ${user.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows[0])).not.toContain(client.sessionToken);
    expect(rows[0]!.ip).toBeTruthy();
    expect(rows[0]!.user_agent).toBeTruthy();
    const me = await client.get('/api/v1/auth/me');
    expect(me.body.session.id).toBe(rows[0]!.id);
    expect(me.body.user.last_login_at).not.toBeNull();
  });

  test('a wrong password and an unknown user get the same 401', async () => {
    const user = await createTestUser(server);
    const wrong = await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: 'wrong password' });
    const unknown = await new ApiClient(server).post('/api/v1/auth/login', { login: 'nobody-here', password: 'wrong password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    expect(wrong.headers.getSetCookie()).toEqual([]);
  });

  test('failed sign-ins are in the audit log with the IP', async () => {
    const user = await createTestUser(server);
    await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: 'wrong password' });
    const [event] = await server.sql`SELECT * FROM events WHERE action = 'auth.login_failed' AND target_id = ${user.id}`;
    expect(event).toMatchObject({ target_label: user.username, target_type: 'user' });
    expect(event!.ip).toBeTruthy();
  });

  test('an inactive user cannot sign in, even with the right password', async () => {
    const user = await createTestUser(server);
    await server.sql`UPDATE users SET status = 'inactive' WHERE id = ${user.id}`;
    const response = await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('forbidden');
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  test('bad bodies get validation_failed with field messages', async () => {
    const client = new ApiClient(server);
    const missing = await client.post('/api/v1/auth/login', {});
    expect(missing.status).toBe(400);
    expect(Object.keys(missing.body.error.fields).sort()).toEqual(['login', 'password']);
    const wrongTypes = await client.post('/api/v1/auth/login', { login: 42, password: ['x'] });
    expect(wrongTypes.status).toBe(400);
    expect(wrongTypes.body.error.code).toBe('validation_failed');
    const tooLong = await client.post('/api/v1/auth/login', { login: 'a', password: 'x'.repeat(257) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.fields.password).toBeTruthy();
  });
});

describe('rate limiting', () => {
  test('too many failures for a login get 429 with Retry-After, even with the right password', async () => {
    const user = await createTestUser(server);
    const client = new ApiClient(server);
    for (let i = 0; i < 3; i++) {
      expect((await client.post('/api/v1/auth/login', { login: user.username, password: 'wrong password' })).status).toBe(401);
    }
    const limited = await client.post('/api/v1/auth/login', { login: user.username.toUpperCase(), password: user.password });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(limited.body.error.message).toMatch(/try again in \d+ minutes?/);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);

    // Once the failures leave the window the account is usable again.
    await server.sql`UPDATE rate_limit_hits SET at = at - interval '16 minutes' WHERE key = ${user.username}`;
    expect((await client.post('/api/v1/auth/login', { login: user.username, password: user.password })).status).toBe(200);
  });

  test('the limit counts per login as typed, so it never tells which username and which email belong together', async () => {
    const user = await createTestUser(server);
    for (let i = 0; i < 3; i++) await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: 'wrong password' });
    const stranger = await createTestUser(server);
    // The username is limited; its email answers exactly like any other address's.
    for (const login of [user.email, stranger.email]) {
      const answer = await new ApiClient(server).post('/api/v1/auth/login', { login, password: 'wrong password' });
      expect(answer.status, login).toBe(401);
    }
  });

  test('a success resets the account counter', async () => {
    const user = await createTestUser(server);
    const client = new ApiClient(server);
    for (let i = 0; i < 2; i++) await client.post('/api/v1/auth/login', { login: user.username, password: 'wrong password' });
    expect((await client.post('/api/v1/auth/login', { login: user.username, password: user.password })).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      expect((await client.post('/api/v1/auth/login', { login: user.username, password: 'wrong password' })).status).toBe(401);
    }
    expect((await client.post('/api/v1/auth/login', { login: user.username, password: user.password })).status).toBe(200);
  });

  test('unknown logins are throttled too, so the limit reveals nothing', async () => {
    const client = new ApiClient(server);
    for (let i = 0; i < 3; i++) await client.post('/api/v1/auth/login', { login: 'ghost', password: 'wrong password' });
    expect((await client.post('/api/v1/auth/login', { login: 'GHOST', password: 'wrong password' })).status).toBe(429);
  });

  test('too many failures from one IP get 429 whatever the account', async () => {
    const ipServer = await startTestServer({ env: { LOGIN_MAX_FAILURES_PER_IP: '4' } });
    try {
      const client = new ApiClient(ipServer);
      for (let i = 0; i < 4; i++) {
        expect((await client.post('/api/v1/auth/login', { login: `someone${i}`, password: 'wrong password' })).status).toBe(401);
      }
      const user = await createTestUser(ipServer);
      const limited = await client.post('/api/v1/auth/login', { login: user.username, password: user.password });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await ipServer.close();
    }
  });
});

describe('sessions', () => {
  test('sign-out makes the cookie useless', async () => {
    const { client } = await signedInClient(server);
    const token = client.sessionToken!;
    const logout = await client.post('/api/v1/auth/logout');
    expect(logout.status).toBe(204);
    expect(client.cookie).toBeUndefined();
    const replay = new ApiClient(server);
    replay.cookie = `roster_session=${token}`;
    const me = await replay.get('/api/v1/auth/me');
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe('unauthenticated');
  });

  test('every sign-in gets a new token', async () => {
    const user = await createTestUser(server);
    const client = new ApiClient(server);
    await client.signIn(user.username, user.password);
    const first = client.sessionToken;
    await client.signIn(user.username, user.password);
    expect(client.sessionToken).not.toBe(first);
  });

  test('an expired session is refused and deleted', async () => {
    const { client } = await signedInClient(server);
    const row = await sessionRow(client);
    await server.sql`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = ${row.id}`;
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect(await server.sql`SELECT 1 FROM sessions WHERE id = ${row.id}`).toHaveLength(0);
  });

  test('an idle session is refused after SESSION_IDLE_MINUTES', async () => {
    const { client } = await signedInClient(server);
    const row = await sessionRow(client);
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '7 days 1 minute' WHERE id = ${row.id}`;
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('activity keeps a session alive; its expiry never moves', async () => {
    const { client } = await signedInClient(server);
    const row = await sessionRow(client);
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '6 days' WHERE id = ${row.id}`;
    const me = await client.get('/api/v1/auth/me');
    expect(me.status).toBe(200);
    expect(me.headers.getSetCookie().find((c) => c.startsWith('roster_session='))).toBeUndefined();
    // Last use is recorded without making the request wait for it.
    await expect.poll(async () => (await sessionRow(client)).last_seen_at.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect((await sessionRow(client)).expires_at).toEqual(row.expires_at);
  });

  test('a tampered or made-up cookie is refused', async () => {
    const { client } = await signedInClient(server);
    const token = client.sessionToken!;
    const flipped = (token[0] === 'a' ? 'b' : 'a') + token.slice(1);
    for (const value of [flipped, token + 'a', 'garbage', '', '%00']) {
      const forged = new ApiClient(server);
      forged.cookie = `roster_session=${value}`;
      const me = await forged.get('/api/v1/auth/me');
      expect(me.status).toBe(401);
      expect(me.body.error.code).toBe('unauthenticated');
    }
  });

  test('a user deactivated while signed in is refused on the next request', async () => {
    const { client, user } = await signedInClient(server);
    await server.sql`UPDATE users SET status = 'inactive' WHERE id = ${user.id}`;
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('/auth/me without a cookie is 401', async () => {
    const response = await new ApiClient(server).get('/api/v1/auth/me');
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: { code: 'unauthenticated', message: 'Sign in to continue' } });
  });
});

describe('behind HTTPS', () => {
  test('the session cookie is Secure when ROSTER_ORIGIN is https', async () => {
    const httpsServer = await startTestServer({ env: { ROSTER_ORIGIN: 'https://roster.example.com' } });
    try {
      const user = await createTestUser(httpsServer);
      const client = new ApiClient(httpsServer);
      const response = await client.post('/api/v1/auth/login', { login: user.username, password: user.password });
      expect(response.status).toBe(200);
      expect(response.headers.getSetCookie().find((c) => c.startsWith('__Host-roster_session='))).toMatch(/Secure/);
    } finally {
      await httpsServer.close();
    }
  });

  // A host beside Roster's (another application under the same parent domain) can set a cookie of
  // the same name for Roster's host, with a longer path so that browsers send it first: the browser
  // would then act in the attacker's session. A name with the `__Host-` prefix is one only Roster's
  // own host can set (ASVS 5.0 3.3.1); with ROSTER_COOKIE_DOMAIN, which `__Host-` forbids, `__Secure-`.
  test('behind HTTPS the session cookie is __Host-roster_session, and a plain roster_session is not read', async () => {
    const httpsServer = await startTestServer({ env: { ROSTER_ORIGIN: 'https://roster.example.com' } });
    try {
      const user = await createTestUser(httpsServer);
      const client = new ApiClient(httpsServer);
      const response = await client.post('/api/v1/auth/login', { login: user.username, password: user.password });
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith('__Host-roster_session='))!;
      expect(cookie).toMatch(/; Path=\/(;|$)/);
      expect(cookie).toMatch(/; Secure/);
      expect(cookie).not.toMatch(/Domain=/i);
      expect((await client.get('/api/v1/auth/me')).status).toBe(200);
      const token = client.sessionToken!;
      const planted = await new ApiClient(httpsServer).request('GET', '/api/v1/auth/me', undefined, { headers: { cookie: `roster_session=${token}` } });
      expect(planted.status).toBe(401);
      const socket = await connectSocket(httpsServer, { cookie: `roster_session=${token}` }).catch((error: Error) => error);
      expect(socket).toBeInstanceOf(Error);
      const live = await connectSocket(httpsServer, { cookie: client.cookie! });
      live.close();
    } finally {
      await httpsServer.close();
    }
  });

  test('behind HTTPS with ROSTER_COOKIE_DOMAIN the session cookie is __Secure-roster_session', async () => {
    const httpsServer = await startTestServer({ env: { ROSTER_ORIGIN: 'https://roster.example.com', ROSTER_COOKIE_DOMAIN: 'example.com' } });
    try {
      const user = await createTestUser(httpsServer);
      const client = new ApiClient(httpsServer);
      const response = await client.post('/api/v1/auth/login', { login: user.username, password: user.password });
      expect(response.headers.getSetCookie().find((c) => c.startsWith('__Secure-roster_session='))).toMatch(/Domain=example\.com.*Secure|Secure.*Domain=example\.com/);
      expect((await client.get('/api/v1/auth/me')).status).toBe(200);
      expect((await client.post('/api/v1/auth/logout')).headers.getSetCookie().find((c) => c.startsWith('__Secure-roster_session='))).toMatch(/Max-Age=0/i);
    } finally {
      await httpsServer.close();
    }
  });
});
