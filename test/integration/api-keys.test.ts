import { describe, expect, test } from 'vitest';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

const server = useTestServer();

const bearer = (key: string) => new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });

describe('API keys', () => {
  test('created once with a recognisable prefix; only the hash is stored; works with the owner\'s permissions', async () => {
    const { client, user } = await signedInClient(server, { role: 'moderator' });
    const created = await client.post('/api/v1/api-keys', { name: 'reporting script' });
    expect(created.status).toBe(201);
    const { key, api_key } = created.body;
    expect(key).toMatch(/^rst_[a-z2-7]{39}$/);
    expect(api_key).toMatchObject({ user_id: user.id, name: 'reporting script', prefix: key.slice(0, 10), last_used_at: null });
    const [row] = await server.sql`SELECT * FROM api_keys WHERE id = ${api_key.id}`;
    expect(JSON.stringify(row)).not.toContain(key);

    const program = bearer(key);
    expect((await program.get('/api/v1/auth/me')).body.user.id).toBe(user.id);
    expect((await program.get('/api/v1/users')).status).toBe(200);
    expect((await program.post('/api/v1/users', {})).status).toBe(403);
    const listed = await client.get('/api/v1/api-keys');
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0].last_used_at).not.toBeNull();
    expect(JSON.stringify(listed.body)).not.toContain(key);
  });

  test('a revoked key is refused on the very next request', async () => {
    const { client } = await signedInClient(server);
    const { key, api_key } = (await client.post('/api/v1/api-keys', { name: 'short-lived' })).body;
    const program = bearer(key);
    expect((await program.get('/api/v1/auth/me')).status).toBe(200);
    expect((await client.delete(`/api/v1/api-keys/${api_key.id}`)).status).toBe(204);
    const refused = await program.get('/api/v1/auth/me');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('unauthenticated');
  });

  test('expired keys, keys of deactivated users, and malformed headers are refused', async () => {
    const { client, user } = await signedInClient(server);
    const { key, api_key } = (await client.post('/api/v1/api-keys', { name: 'expiring', expires_at: new Date(Date.now() + 60_000).toISOString() })).body;
    expect((await bearer(key).get('/api/v1/auth/me')).status).toBe(200);
    await server.sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${api_key.id}`;
    expect((await bearer(key).get('/api/v1/auth/me')).status).toBe(401);

    const other = (await client.post('/api/v1/api-keys', { name: 'other' })).body.key;
    await server.sql`UPDATE users SET status = 'inactive' WHERE id = ${user.id}`;
    expect((await bearer(other).get('/api/v1/auth/me')).status).toBe(401);

    for (const header of ['Bearer', 'Bearer ', 'Basic abc', `Bearer ${other}x`, 'Bearer rst_', `bearer ${other}`]) {
      const response = await new ApiClient(server, { origin: null, headers: { authorization: header } }).get('/api/v1/setup');
      expect(response.status, header).toBe(401);
    }
  });

  test('a key is not a cookie, and a cookie is not a key', async () => {
    const { client } = await signedInClient(server);
    const { key } = (await client.post('/api/v1/api-keys', { name: 'x' })).body;
    const asCookie = new ApiClient(server);
    asCookie.cookie = `roster_session=${key}`;
    expect((await asCookie.get('/api/v1/auth/me')).status).toBe(401);
    expect((await bearer(client.sessionToken!).get('/api/v1/auth/me')).status).toBe(401);
  });

  test('system keys: admins only; they act as admin and are listed to admins', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client: user } = await signedInClient(server);
    expect((await user.post('/api/v1/api-keys', { name: 'sys', system: true })).status).toBe(403);
    const { key, api_key } = (await admin.post('/api/v1/api-keys', { name: 'provisioning', system: true })).body;
    expect(api_key.user_id).toBeNull();
    const system = bearer(key);
    const created = await system.post('/api/v1/users', { username: 'from-system', display_name: 'S', email: 'from-system@example.com', generate_password: true });
    expect(created.status).toBe(201);
    const [event] = await server.sql`SELECT actor_id, actor_label FROM events WHERE action = 'user.created' AND target_label = 'from-system'`;
    expect(event).toEqual({ actor_id: null, actor_label: 'system key "provisioning"' });
    expect((await system.get('/api/v1/auth/me')).status).toBe(403);
    expect((await admin.get('/api/v1/api-keys')).body.items.map((k: any) => k.name)).toContain('provisioning');
    expect((await user.get('/api/v1/api-keys')).body.items.map((k: any) => k.name)).not.toContain('provisioning');
  });

  test('others\' keys cannot be revoked by plain users (404); admins can revoke any', async () => {
    const { client: owner } = await signedInClient(server);
    const { client: stranger } = await signedInClient(server);
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { api_key } = (await owner.post('/api/v1/api-keys', { name: 'mine' })).body;
    expect((await stranger.delete(`/api/v1/api-keys/${api_key.id}`)).status).toBe(404);
    expect((await admin.delete(`/api/v1/api-keys/${api_key.id}`)).status).toBe(204);
    expect((await owner.get('/api/v1/api-keys')).body.items).toHaveLength(0);
  });

  test('bad input is 400 with the field, nothing stored', async () => {
    const { client } = await signedInClient(server);
    for (const [body, field] of [
      [{}, 'name'],
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(101) }, 'name'],
      [{ name: 'x', expires_at: 'tomorrow' }, 'expires_at'],
      [{ name: 'x', expires_at: '2000-01-01T00:00:00Z' }, 'expires_at'],
      [{ name: 'x', user_id: '00000000-0000-0000-0000-000000000000' }, 'user_id'],
      [{ name: 'x', system: 'yes' }, 'system'],
    ] as const) {
      const response = await client.post('/api/v1/api-keys', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.fields).toHaveProperty(field);
    }
    expect((await client.get('/api/v1/api-keys')).body.items).toHaveLength(0);
  });
});
