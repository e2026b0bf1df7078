import { describe, expect, test } from 'vitest';
import { issueSetupToken } from '../../server/src/services/setup.ts';
import { ApiClient } from '../helpers/clients.ts';
import { whileSessionsRefused } from '../helpers/database.ts';
import { useTestServer } from '../helpers/server.ts';

const server = useTestServer();

const admin = { username: 'First.Admin', display_name: 'First Admin', email: 'first@example.com', password: 'a long passphrase' };

describe('first-run setup', () => {
  test('reports that setup is needed while no user exists', async () => {
    const response = await new ApiClient(server).get('/api/v1/setup');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ needs_setup: true, registration_open: false, password_min_length: 8, public_sharing: false, mail_configured: false });
  });

  test('refuses a wrong token and invalid fields without creating anything', async () => {
    await issueSetupToken(server.sql);
    const client = new ApiClient(server);
    const wrong = await client.post('/api/v1/setup', { ...admin, token: 'not-the-token' });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('forbidden');

    const token = (await issueSetupToken(server.sql))!;
    const invalid = await client.post('/api/v1/setup', { token, username: 'x', display_name: '', email: 'nope', password: 'short' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('validation_failed');
    expect(Object.keys(invalid.body.error.fields).sort()).toEqual(['display_name', 'email', 'password', 'username']);

    const extra = await client.post('/api/v1/setup', { ...admin, token, role: 'user' });
    expect(extra.status).toBe(400);
    expect(extra.body.error.fields).toEqual({ role: 'Unknown field' });

    const [users] = await server.sql`SELECT count(*)::int AS count FROM users`;
    expect(users!.count).toBe(0);
  });

  test('a failure while signing the new admin in writes nothing: no admin, and the token still works', async () => {
    const token = (await issueSetupToken(server.sql))!;
    const refused = await whileSessionsRefused(server.sql, () => new ApiClient(server).post('/api/v1/setup', { ...admin, token }));
    expect(refused.status).toBe(500);
    const [users] = await server.sql`SELECT count(*)::int AS count FROM users`;
    expect(users!.count).toBe(0);
    const [tokens] = await server.sql`SELECT count(*)::int AS count FROM setup_tokens`;
    expect(tokens!.count).toBeGreaterThan(0);
  });

  test('a valid token creates the first admin, signs them in, and works only once', async () => {
    const token = (await issueSetupToken(server.sql))!;
    const client = new ApiClient(server);
    const created = await client.post('/api/v1/setup', { ...admin, token });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({ username: 'first.admin', role: 'admin', status: 'active', email: 'first@example.com' });
    expect(created.body.user.password_hash).toBeUndefined();

    const me = await client.get('/api/v1/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.user.username).toBe('first.admin');

    const again = await new ApiClient(server).post('/api/v1/setup', { ...admin, username: 'second', email: 'second@example.com', token });
    expect(again.status).toBe(403);
    expect(again.body.error.code).toBe('forbidden');
    expect((await client.get('/api/v1/setup')).body.needs_setup).toBe(false);
  });

  test('no token is issued once a user exists, and an old one stays dead', async () => {
    expect(await issueSetupToken(server.sql)).toBeNull();
    const [tokens] = await server.sql`SELECT count(*)::int AS count FROM setup_tokens`;
    expect(tokens!.count).toBe(0);
  });
});
