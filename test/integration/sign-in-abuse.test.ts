import { describe, expect, test } from 'vitest';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

// Abuse of sign-in and credentials (issue 11, items 11–14): strangers cannot lock an owner out,
// credentials end with recovery, a stranger cannot take an installation before its owner, and
// no limit or answer tells which accounts exist.

const server = useTestServer({ env: { LOGIN_MAX_FAILURES: '5', LOGIN_MAX_FAILURES_PER_IP: '1000' } });

const bearer = (key: string) => new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });

describe('an account under attack', () => {
  test('strangers\' failures lock out only strangers: a browser that signed in before still signs in', async () => {
    const owner = await createTestUser(server, { role: 'admin' });
    const ownersBrowser = new ApiClient(server);
    await ownersBrowser.signIn(owner.username, owner.password);
    expect(ownersBrowser.deviceCookie).toMatch(/^roster_device=[a-z2-7]{32}$/);
    await ownersBrowser.post('/api/v1/auth/logout');

    for (let i = 0; i < 5; i++) await new ApiClient(server).post('/api/v1/auth/login', { login: owner.username, password: `guess ${i}` });
    const stranger = await new ApiClient(server).post('/api/v1/auth/login', { login: owner.username, password: owner.password });
    expect(stranger.status).toBe(429);
    expect(stranger.headers.get('retry-after')).toBeTruthy();

    // The owner's browser carries its device cookie: counted on its own, not locked.
    const back = await ownersBrowser.post('/api/v1/auth/login', { login: owner.username, password: owner.password });
    expect(back.status).toBe(200);
  });

  test('strangers behind the same address (one office, one NAT) do not lock out a trusted browser either', async () => {
    const shared = await startTestServer({ env: { LOGIN_MAX_FAILURES_PER_IP: '4' } });
    try {
      const owner = await createTestUser(shared);
      const ownersBrowser = new ApiClient(shared);
      await ownersBrowser.signIn(owner.username, owner.password);
      for (let i = 0; i < 4; i++) await new ApiClient(shared).post('/api/v1/auth/login', { login: `someone-${i}`, password: 'guess' });
      expect((await new ApiClient(shared).post('/api/v1/auth/login', { login: owner.username, password: owner.password })).status).toBe(429);
      expect((await ownersBrowser.post('/api/v1/auth/login', { login: owner.username, password: owner.password })).status).toBe(200);
    } finally {
      await shared.close();
    }
  });

  test('a device cookie counts only for the account it signed in to, and its own failures lock only it', async () => {
    const owner = await createTestUser(server);
    const other = await createTestUser(server);
    const browser = new ApiClient(server);
    await browser.signIn(owner.username, owner.password);
    // Another account from the same browser: the cookie is no exemption for it.
    for (let i = 0; i < 5; i++) await browser.post('/api/v1/auth/login', { login: other.username, password: `guess ${i}` });
    expect((await browser.post('/api/v1/auth/login', { login: other.username, password: other.password })).status).toBe(429);
    // Failures through the trusted device count against the device.
    for (let i = 0; i < 5; i++) await browser.post('/api/v1/auth/login', { login: owner.username, password: `guess ${i}` });
    expect((await browser.post('/api/v1/auth/login', { login: owner.username, password: owner.password })).status).toBe(429);
    // A forged or foreign device cookie is simply not trusted.
    const forged = new ApiClient(server);
    forged.deviceCookie = 'roster_device=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    expect((await forged.post('/api/v1/auth/login', { login: owner.username, password: owner.password })).status).toBe(200);
  });
});

describe('credentials end with recovery', () => {
  async function userWithKey() {
    const { client, user } = await signedInClient(server);
    const created = await client.post('/api/v1/api-keys', { name: 'script' });
    expect(created.status).toBe(201);
    expect((await bearer(created.body.key).get('/api/v1/auth/me')).status).toBe(200);
    return { client, user, key: created.body.key as string };
  }

  test('an admin password reset ends the user\'s API keys', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { user, key } = await userWithKey();
    expect((await admin.put(`/api/v1/users/${user.id}/password`, { password: 'set by the admin', revoke_sessions: false })).status).toBe(200);
    expect((await bearer(key).get('/api/v1/auth/me')).status).toBe(401);
    const events = await server.sql`SELECT action FROM events WHERE action = 'api_key.revoked' AND data->>'user_id' = ${user.id}`;
    expect(events).toHaveLength(1);
  });

  test('"sign out everywhere" ends the sessions and the API keys; "other sessions" keeps the keys', async () => {
    const { client, user, key } = await userWithKey();
    expect((await client.delete(`/api/v1/users/${user.id}/sessions?except_current=true`)).status).toBe(204);
    expect((await bearer(key).get('/api/v1/auth/me')).status).toBe(200);
    expect((await client.delete(`/api/v1/users/${user.id}/sessions`)).status).toBe(204);
    expect((await bearer(key).get('/api/v1/auth/me')).status).toBe(401);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('changing one\'s own password ends the API keys when asked to', async () => {
    const kept = await userWithKey();
    const change = { current_password: kept.user.password, new_password: 'a fresh passphrase' };
    expect((await kept.client.put('/api/v1/me/password', change)).status).toBe(200);
    expect((await bearer(kept.key).get('/api/v1/auth/me')).status).toBe(200);
    const ended = await userWithKey();
    expect((await ended.client.put('/api/v1/me/password', { ...change, current_password: ended.user.password, end_api_keys: true })).status).toBe(200);
    expect((await bearer(ended.key).get('/api/v1/auth/me')).status).toBe(401);
  });

  test('creating a key needs a password confirmed in the last minutes, and a browser session', async () => {
    const { client, user } = await signedInClient(server);
    await server.sql`UPDATE sessions SET authenticated_at = now() - interval '11 minutes' WHERE user_id = ${user.id}`;
    const refused = await client.post('/api/v1/api-keys', { name: 'later' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('reauthentication_required');
    expect(await server.sql`SELECT 1 FROM api_keys WHERE user_id = ${user.id}`).toHaveLength(0);
    expect((await client.post('/api/v1/auth/reauthenticate', { password: user.password })).status).toBe(200);
    const created = await client.post('/api/v1/api-keys', { name: 'now' });
    expect(created.status).toBe(201);
    // A key cannot mint another key.
    expect((await bearer(created.body.key).post('/api/v1/api-keys', { name: 'child' })).status).toBe(403);
  });
});

describe('registration', () => {
  test('stays closed until the first admin exists, so the setup link keeps working', async () => {
    const fresh = await startTestServer({ env: { ALLOW_REGISTRATION: 'true' } });
    try {
      const stranger = new ApiClient(fresh);
      const body = { username: 'first-comer', display_name: 'First', email: 'first@example.com', password: 'a long passphrase' };
      const refused = await stranger.post('/api/v1/auth/register', body);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('registration_closed');
      expect((await stranger.get('/api/v1/setup')).body.needs_setup).toBe(true);
      expect(await fresh.sql`SELECT 1 FROM users`).toHaveLength(0);
      await createTestUser(fresh, { role: 'admin' });
      expect((await stranger.post('/api/v1/auth/register', body)).status).toBe(201);
    } finally {
      await fresh.close();
    }
  });

  test('is throttled per IP, whatever it answers', async () => {
    const open = await startTestServer({ env: { ALLOW_REGISTRATION: 'true', REGISTRATION_MAX_PER_IP: '3' } });
    try {
      await createTestUser(open, { role: 'admin' });
      const taken = await createTestUser(open);
      const prober = new ApiClient(open);
      for (let i = 0; i < 3; i++) {
        const probe = await prober.post('/api/v1/auth/register', { username: taken.username, display_name: 'P', email: `p${i}@example.com`, password: 'a long passphrase' });
        expect(probe.status).toBe(409);
      }
      const limited = await prober.post('/api/v1/auth/register', { username: 'new-one', display_name: 'N', email: 'new-one@example.com', password: 'a long passphrase' });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await open.close();
    }
  });
});
