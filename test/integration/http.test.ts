import { request as httpRequest } from 'node:http';
import { describe, expect, test } from 'vitest';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer();

describe('CSRF: state-changing requests need an allowed Origin', () => {
  test('a POST without Origin is refused with 403', async () => {
    const user = await createTestUser(server);
    const response = await new ApiClient(server, { origin: null }).post('/api/v1/auth/login', {
      login: user.username,
      password: user.password,
    });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('forbidden');
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  test('a POST from a foreign origin is refused, also with a valid session', async () => {
    const { client } = await signedInClient(server);
    const foreign = new ApiClient(server, { origin: 'https://evil.example' });
    foreign.cookie = client.cookie;
    const response = await foreign.post('/api/v1/auth/logout');
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('forbidden');
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
  });

  test('a look-alike origin (other port, scheme or suffix) is refused', async () => {
    const { port } = new URL(server.url);
    for (const origin of [`http://localhost:${Number(port) + 1}`, `https://localhost:${port}`, `http://localhost:${port}.evil.example`, 'null']) {
      const response = await new ApiClient(server, { origin }).post('/api/v1/auth/login', { login: 'a', password: 'b' });
      expect(response.status, origin).toBe(403);
    }
  });

  test('safe methods do not need an Origin', async () => {
    const response = await new ApiClient(server, { origin: null }).get('/api/v1/setup');
    expect(response.status).toBe(200);
  });
});

describe('bad input never gets a 500', () => {
  test('malformed JSON is a 400 validation_failed', async () => {
    for (const rawBody of ['{"login": ', 'not json', '', '\u0000']) {
      const response = await new ApiClient(server).request('POST', '/api/v1/auth/login', undefined, { rawBody });
      expect(response.status, JSON.stringify(rawBody)).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
  });

  test('JSON that is not an object is a 400', async () => {
    for (const body of [null, [], 'text', 12, true]) {
      const response = await new ApiClient(server).post('/api/v1/auth/login', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
  });

  test('a 2 MiB body is a 413 payload_too_large', async () => {
    const rawBody = JSON.stringify({ login: 'x'.repeat(2 * 1024 * 1024), password: 'y' });
    const response = await new ApiClient(server).request('POST', '/api/v1/auth/login', undefined, { rawBody });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('payload_too_large');
  });

  test('a chunked 2 MiB body without Content-Length is a 413 too', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${server.url}/api/v1/auth/login`,
        { method: 'POST', headers: { origin: server.origin, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 32; i++) req.write('x'.repeat(64 * 1024));
      req.end();
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).error.code).toBe('payload_too_large');
  });

  test('the session cookie is read among other cookies, however they are spaced, and never from a look-alike name', async () => {
    const { client } = await signedInClient(server);
    const token = client.sessionToken!;
    const anonymous = new ApiClient(server);
    const meWith = (cookie: string) => anonymous.request('GET', '/api/v1/auth/me', undefined, { headers: { cookie } });
    for (const cookie of [`roster_session=${token}`, `theme=dark; roster_session=${token}`, `a=1;roster_session=${token};b=2`, `a=1;   roster_session=${token}`]) {
      expect((await meWith(cookie)).status, cookie).toBe(200);
    }
    for (const cookie of [`xroster_session=${token}`, `roster_session_old=${token}`, `a=roster_session=${token}`, `roster_session=`, 'roster_session=not-a-token']) {
      const response = await meWith(cookie);
      expect(response.status, cookie).toBe(401);
      expect(response.body.error.code).toBe('unauthenticated');
    }
  });

  test('an unknown API route is a JSON 404', async () => {
    const response = await new ApiClient(server).get('/api/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
  });
});

describe('health', () => {
  test('/healthz and /readyz answer when the database is migrated', async () => {
    const client = new ApiClient(server);
    expect(await client.get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await client.get('/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  test('/readyz is 503 while a migration of this build is not applied', async () => {
    const behind = await startTestServer();
    try {
      await behind.sql`DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`;
      const response = await new ApiClient(behind).get('/readyz');
      expect(response.status).toBe(503);
      expect(response.body.error.code).toBe('unavailable');
      expect((await new ApiClient(behind).get('/healthz')).status).toBe(200);
    } finally {
      await behind.close();
    }
  });
});
