import { describe, expect, test } from 'vitest';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { whileSessionsRefused } from '../helpers/database.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer({ env: { LOGIN_MAX_FAILURES: '3' } });

describe('PATCH /me', () => {
  test('changes own display name and email; nothing else', async () => {
    const { client, user } = await signedInClient(server);
    const response = await client.patch('/api/v1/me', { display_name: 'Me Myself', email: 'me.myself@example.com' });
    expect(response.status).toBe(200);
    expect(response.body.user).toMatchObject({ display_name: 'Me Myself', email: 'me.myself@example.com', version: 2 });
    for (const body of [{ role: 'admin' }, { status: 'inactive' }, { username: 'newname' }, { display_name: 'x', role: 'admin' }, {}]) {
      const refused = await client.patch('/api/v1/me', body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
    }
    const [row] = await server.sql`SELECT role, status, username FROM users WHERE id = ${user.id}`;
    expect(row).toEqual({ role: 'user', status: 'active', username: user.username });
  });

  test('a taken email is refused like any unusable address; a stale version is 409 with the current record', async () => {
    const other = await createTestUser(server);
    const { client } = await signedInClient(server);
    const taken = await client.patch('/api/v1/me', { email: other.email });
    expect(taken.status).toBe(400);
    expect(taken.body.error.fields).toEqual({ email: 'This address cannot be used; try another' });
    await client.patch('/api/v1/me', { display_name: 'Once' });
    const stale = await client.patch('/api/v1/me', { version: 1, display_name: 'Twice' });
    expect(stale.status).toBe(409);
    expect(stale.body.current.display_name).toBe('Once');
  });
});

describe('PUT /me/password', () => {
  test('needs the current password; ends the other sessions, keeps this one', async () => {
    const { client, user } = await signedInClient(server);
    const other = new ApiClient(server);
    await other.signIn(user.username, user.password);
    const wrong = await client.put('/api/v1/me/password', { current_password: 'not it at all', new_password: 'a brand new one' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.fields).toEqual({ current_password: 'The password is wrong' });
    const weak = await client.put('/api/v1/me/password', { current_password: user.password, new_password: 'short' });
    expect(weak.status).toBe(400);
    expect(weak.body.error.fields.new_password).toMatch(/at least 8/);

    expect((await client.put('/api/v1/me/password', { current_password: user.password, new_password: 'a brand new one' })).status).toBe(200);
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
    expect((await other.get('/api/v1/auth/me')).status).toBe(401);
    await new ApiClient(server).signIn(user.username, 'a brand new one');
  });

  test('guessing the current password is throttled like sign-in', async () => {
    const { client } = await signedInClient(server);
    for (let i = 0; i < 3; i++) await client.put('/api/v1/me/password', { current_password: `guess ${i}`, new_password: 'a brand new one' });
    const limited = await client.put('/api/v1/me/password', { current_password: 'guess 4', new_password: 'a brand new one' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('registration', () => {
  test('closed by default: 403 registration_closed, nothing created', async () => {
    const response = await new ApiClient(server).post('/api/v1/auth/register', {
      username: 'walkin',
      display_name: 'Walk In',
      email: 'walkin@example.com',
      password: 'a long passphrase',
    });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('registration_closed');
    expect(await server.sql`SELECT 1 FROM users WHERE username = 'walkin'`).toHaveLength(0);
  });

  test('open with ALLOW_REGISTRATION=true: creates a plain user and signs them in; cannot choose a role', async () => {
    const open = await startTestServer({ env: { ALLOW_REGISTRATION: 'true' } });
    try {
      await createTestUser(open, { role: 'admin' });
      const client = new ApiClient(open);
      expect((await client.get('/api/v1/setup')).body.registration_open).toBe(true);
      const sneaky = await client.post('/api/v1/auth/register', {
        username: 'walkin',
        display_name: 'Walk In',
        email: 'walkin@example.com',
        password: 'a long passphrase',
        role: 'admin',
      });
      expect(sneaky.status).toBe(400);
      expect(sneaky.body.error.fields).toEqual({ role: 'Unknown field' });
      // Failing to sign the new account in leaves no account behind: the same registration works next.
      const walkIn = { username: 'walkin', display_name: 'Walk In', email: 'walkin@example.com', password: 'a long passphrase' };
      expect((await whileSessionsRefused(open.sql, () => new ApiClient(open).post('/api/v1/auth/register', walkIn))).status).toBe(500);
      const response = await client.post('/api/v1/auth/register', {
        username: 'walkin',
        display_name: 'Walk In',
        email: 'walkin@example.com',
        password: 'a long passphrase',
      });
      expect(response.status).toBe(201);
      expect(response.body.user).toMatchObject({ username: 'walkin', role: 'user', status: 'active' });
      expect((await client.get('/api/v1/auth/me')).body.user.username).toBe('walkin');
      const again = await new ApiClient(open).post('/api/v1/auth/register', {
        username: 'walkin',
        display_name: 'Again',
        email: 'again@example.com',
        password: 'a long passphrase',
      });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('username_taken');
    } finally {
      await open.close();
    }
  });
});
