// Over 300 lines for a reason: one test per ASVS requirement, in the order of the matrix in docs/security.md that points here.
import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { SIGN_OUT_EVERYONE_PHRASE } from '@roster/shared';
import { loadConfig } from '../../server/src/config.ts';
import { ApiClient, LiveClient, createTestUser, signedInClient, useSignedInClient } from '../helpers/clients.ts';
import { runCli, repoRoot } from '../helpers/processes.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

// OWASP ASVS 5.0 Level 1 and 2 requirements on sessions (V7) and on the authentication limits,
// password change and reset (V6), one test per requirement, named with its number. The matrix in
// docs/security.md points here. Time moves by back-dating rows, never by waiting.

const server = useTestServer({ env: { SESSION_MAX_PER_USER: '3', LOGIN_MAX_FAILURES_PER_IP: '1000' } });
const admin = useSignedInClient(server, { role: 'admin' });

const bearer = (key: string) => new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });

async function sessionOf(client: ApiClient) {
  return (await client.get('/api/v1/auth/me')).body.session as { id: string; expires_at: string; authenticated_at: string };
}

async function confirmedLongAgo(userId: string) {
  await server.sql`UPDATE sessions SET authenticated_at = now() - interval '11 minutes' WHERE user_id = ${userId}`;
}

describe('V7.1 session management documentation', () => {
  test('7.1.1 the documented inactivity and absolute timeouts are the configured defaults, with the NIST reasoning', async () => {
    const doc = await readFile(`${repoRoot}docs/security.md`, 'utf8');
    const defaults = loadConfig({});
    expect(doc).toContain(`SESSION_IDLE_MINUTES=${defaults.SESSION_IDLE_MINUTES}`);
    expect(doc).toContain(`SESSION_MAX_DAYS=${defaults.SESSION_MAX_DAYS}`);
    expect(doc).toContain(`REAUTH_MINUTES=${defaults.REAUTH_MINUTES}`);
    expect(doc).toMatch(/NIST SP 800-63B/);
    expect(doc).toMatch(/AAL2/);
  });

  test('7.1.2 beyond SESSION_MAX_PER_USER the least recently used session ends, and its tabs are told why', async () => {
    const user = await createTestUser(server);
    const browsers = [new ApiClient(server), new ApiClient(server), new ApiClient(server)];
    for (const browser of browsers) await browser.signIn(user.username, user.password);
    const oldest = await LiveClient.connect(server, browsers[0]!.cookie);
    // The first browser is the least recently used: the others were used since.
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '1 hour' WHERE id = ${(await sessionOf(browsers[0]!)).id}`;

    const fourth = new ApiClient(server);
    await fourth.signIn(user.username, user.password);
    await oldest.disconnected();
    expect(oldest.ended).toEqual({ reason: 'replaced' });
    expect((await browsers[0]!.get('/api/v1/auth/me')).status).toBe(401);
    for (const browser of [...browsers.slice(1), fourth]) expect((await browser.get('/api/v1/auth/me')).status).toBe(200);
    expect(await server.sql`SELECT 1 FROM sessions WHERE user_id = ${user.id}`).toHaveLength(3);
  });
});

describe('V7.2 fundamental session security', () => {
  test('7.2.1 every request verifies the session on the server: a deleted row is refused at once', async () => {
    const { client } = await signedInClient(server);
    await server.sql`DELETE FROM sessions WHERE id = ${(await sessionOf(client)).id}`;
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('7.2.3 session tokens are 160 random bits, different every time, stored only as their hash', async () => {
    const user = await createTestUser(server);
    const tokens = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const client = new ApiClient(server);
      await client.signIn(user.username, user.password);
      expect(client.sessionToken).toMatch(/^[a-z2-7]{32}$/); // 32 base32 characters: 160 bits
      tokens.add(client.sessionToken!);
      expect(await server.sql`SELECT 1 FROM sessions WHERE token_hash = ${client.sessionToken!}`).toHaveLength(0);
    }
    expect(tokens.size).toBe(3);
  });

  test('7.2.4 signing in again issues a new token and ends the session it replaces', async () => {
    const { client, user } = await signedInClient(server);
    const before = await sessionOf(client);
    const oldToken = client.sessionToken!;
    await client.signIn(user.username, user.password);
    expect(client.sessionToken).not.toBe(oldToken);
    expect((await sessionOf(client)).id).not.toBe(before.id);
    const replay = new ApiClient(server);
    replay.cookie = `roster_session=${oldToken}`;
    expect((await replay.get('/api/v1/auth/me')).status).toBe(401);
    const [event] = await server.sql`SELECT data FROM events WHERE action = 'session.revoked' AND target_id = ${before.id}`;
    expect(event!.data).toMatchObject({ reason: 'replaced' });
  });

  test('7.2.4 re-authentication and a password change issue a new token; the old one stops working at once', async () => {
    const { client, user } = await signedInClient(server);
    const session = await sessionOf(client);
    for (const reauthenticate of [
      () => client.post('/api/v1/auth/reauthenticate', { password: user.password }),
      () => client.put('/api/v1/me/password', { current_password: user.password, new_password: 'a replaced passphrase' }),
    ]) {
      const oldToken = client.sessionToken!;
      expect((await reauthenticate()).status).toBe(200);
      expect(client.sessionToken).not.toBe(oldToken);
      const replay = new ApiClient(server);
      replay.cookie = `roster_session=${oldToken}`;
      expect((await replay.get('/api/v1/auth/me')).status).toBe(401);
      // The same session goes on: its id, its open connections, its absolute expiry.
      expect(await sessionOf(client)).toMatchObject({ id: session.id, expires_at: session.expires_at });
    }
  });

  // The console reloads its lists when the live feed announces the rotation, which can be before
  // the answer carrying the new cookie arrives: such a request, refused, must not sign the browser out.
  test('7.2.4 requests still carrying the replaced token do not undo the new cookie (30 rounds)', async () => {
    const { client, user } = await signedInClient(server);
    for (let round = 0; round < 30; round++) {
      // One cookie jar, as in a browser: requests sent before the new cookie arrives carry the old
      // token, and their answers are applied to the jar in the order they arrive.
      const rotation = client.post('/api/v1/auth/reauthenticate', { password: user.password });
      const reloads = Array.from({ length: 12 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 15));
        return client.get('/api/v1/auth/me');
      });
      expect((await rotation).status).toBe(200);
      await Promise.all(reloads);
      expect((await client.get('/api/v1/auth/me')).status, `round ${round}`).toBe(200);
    }
  });
});

describe('V7.3 session timeout', () => {
  test('7.3.1 a session unused for SESSION_IDLE_MINUTES ends', async () => {
    const { client } = await signedInClient(server);
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '7 days 1 minute' WHERE id = ${(await sessionOf(client)).id}`;
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('7.3.2 the absolute lifetime is never slid past', async () => {
    const { client } = await signedInClient(server);
    const session = await sessionOf(client);
    // Activity does not move the expiry.
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '2 hours' WHERE id = ${session.id}`;
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
    expect((await sessionOf(client)).expires_at).toBe(session.expires_at);
    // A session created 400 days ago is over, whatever expiry its row holds.
    await server.sql`UPDATE sessions SET created_at = now() - interval '400 days', expires_at = now() + interval '30 days' WHERE id = ${session.id}`;
    const refused = await client.get('/api/v1/auth/me');
    expect(refused.status).toBe(401);
    expect(await server.sql`SELECT 1 FROM sessions WHERE id = ${session.id}`).toHaveLength(0);
  });

  test('7.3.2 SESSION_MAX_DAYS sets the lifetime, in fractions of a day too', async () => {
    const strict = await startTestServer({ env: { SESSION_MAX_DAYS: '0.5' } });
    try {
      const { client } = await signedInClient(strict);
      const session = (await client.get('/api/v1/auth/me')).body.session;
      const hours = (Date.parse(session.expires_at) - Date.parse(session.created_at)) / 3600_000;
      expect(hours).toBeCloseTo(12, 1);
      const cookie = (await new ApiClient(strict).post('/api/v1/auth/login', { login: 'x', password: 'y' })).headers;
      expect(cookie.getSetCookie()).toEqual([]);
      await strict.sql`UPDATE sessions SET created_at = now() - interval '12 hours 1 minute' WHERE id = ${session.id}`;
      expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    } finally {
      await strict.close();
    }
  });
});

describe('V7.4 session termination', () => {
  test('7.4.1 sign-out ends the session: the cookie is useless afterwards', async () => {
    const { client } = await signedInClient(server);
    const token = client.sessionToken!;
    expect((await client.post('/api/v1/auth/logout')).status).toBe(204);
    const replay = new ApiClient(server);
    replay.cookie = `roster_session=${token}`;
    expect((await replay.get('/api/v1/auth/me')).status).toBe(401);
  });

  test('7.4.2 deactivating or deleting a user ends all of their sessions', async () => {
    for (const end of ['deactivate', 'delete'] as const) {
      const { client, user } = await signedInClient(server);
      const second = new ApiClient(server);
      await second.signIn(user.username, user.password);
      const done =
        end === 'deactivate'
          ? await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' })
          : await admin.delete(`/api/v1/users/${user.id}`);
      expect(done.status).toBeLessThan(300);
      for (const browser of [client, second]) expect((await browser.get('/api/v1/auth/me')).status).toBe(401);
    }
  });

  test('7.4.3 changing the password ends every other session', async () => {
    const { client, user } = await signedInClient(server);
    const other = new ApiClient(server);
    await other.signIn(user.username, user.password);
    expect((await client.put('/api/v1/me/password', { current_password: user.password, new_password: 'another passphrase' })).status).toBe(200);
    expect((await other.get('/api/v1/auth/me')).status).toBe(401);
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
  });

  test('7.4.5 an admin ends one user\'s sessions, or everyone\'s: confirmed by a phrase, audited, live', async () => {
    const arena = await startTestServer();
    try {
      const { client: boss, user: bossUser } = await signedInClient(arena, { role: 'admin' });
      const { client: someone } = await signedInClient(arena);
      const { client: another } = await signedInClient(arena, { role: 'moderator' });
      const watcher = await LiveClient.connect(arena, someone.cookie);
      const bossWatcher = await LiveClient.connect(arena, boss.cookie);

      const unconfirmed = await boss.post('/api/v1/sessions/revoke-all', { confirm: 'yes' });
      expect(unconfirmed.status).toBe(400);
      expect(unconfirmed.body.error.fields.confirm).toMatch(/sign out everyone/);
      expect((await someone.post('/api/v1/sessions/revoke-all', { confirm: SIGN_OUT_EVERYONE_PHRASE })).status).toBe(403);
      expect((await another.post('/api/v1/sessions/revoke-all', { confirm: SIGN_OUT_EVERYONE_PHRASE })).status).toBe(403);

      const done = await boss.post('/api/v1/sessions/revoke-all', { confirm: SIGN_OUT_EVERYONE_PHRASE, keep_own: true });
      expect(done.status).toBe(200);
      expect(done.body.ended).toBe(2);
      await watcher.disconnected();
      expect(watcher.ended).toEqual({ reason: 'revoked' });
      for (const client of [someone, another]) expect((await client.get('/api/v1/auth/me')).status).toBe(401);
      expect((await boss.get('/api/v1/auth/me')).status).toBe(200);
      expect(bossWatcher.socket.connected).toBe(true);
      const [event] = await arena.sql`SELECT actor_id, data FROM events WHERE action = 'session.revoked_all'`;
      expect(event).toMatchObject({ actor_id: bossUser.id, data: { count: 2 } });
      bossWatcher.close();
    } finally {
      await arena.close();
    }
  });

  test('7.4.5 from the command line, for when no admin can sign in', async () => {
    const arena = await startTestServer();
    try {
      const { client } = await signedInClient(arena, { role: 'admin' });
      const refused = await runCli(['sign-out-everyone'], { DATABASE_URL: arena.databaseUrl });
      expect(refused.code).toBe(1);
      expect((await client.get('/api/v1/auth/me')).status).toBe(200);
      const done = await runCli(['sign-out-everyone', '--yes'], { DATABASE_URL: arena.databaseUrl });
      expect(done.code, done.output).toBe(0);
      expect(done.output).toMatch(/Ended 1 session/);
      expect((await client.get('/api/v1/auth/me')).status).toBe(401);
      const [event] = await arena.sql`SELECT actor_label FROM events WHERE action = 'session.revoked_all'`;
      expect(event).toEqual({ actor_label: 'cli' });
    } finally {
      await arena.close();
    }
  });
});

describe('V7.5 defenses against session abuse', () => {
  test('7.5.1 changing one\'s own email needs a password confirmed in the last minutes; an API key cannot', async () => {
    const { client, user } = await signedInClient(server);
    const key = (await client.post('/api/v1/api-keys', { name: 'script' })).body.key;
    await confirmedLongAgo(user.id);
    const refused = await client.patch('/api/v1/me', { email: `new-${user.username}@example.com` });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('reauthentication_required');
    // The display name is not a sign-in detail: no confirmation needed.
    expect((await client.patch('/api/v1/me', { display_name: 'Still me' })).status).toBe(200);
    const wrong = await client.post('/api/v1/auth/reauthenticate', { password: 'not my password' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.fields).toEqual({ password: 'The password is wrong' });
    expect((await client.post('/api/v1/auth/reauthenticate', { password: user.password })).status).toBe(200);
    expect((await client.patch('/api/v1/me', { email: `new-${user.username}@example.com` })).status).toBe(200);
    const byKey = await bearer(key).patch('/api/v1/me', { email: `key-${user.username}@example.com` });
    expect(byKey.status).toBe(403);
    expect((await bearer(key).put('/api/v1/me/password', { current_password: user.password, new_password: 'changed by a key' })).status).toBe(403);
  });

  test('7.5.1 an admin changing their own username or email through the users API is asked too', async () => {
    const { client, user } = await signedInClient(server, { role: 'admin' });
    await confirmedLongAgo(user.id);
    const refused = await client.patch(`/api/v1/users/${user.id}`, { version: user.version, username: `${user.username}-x` });
    expect(refused.body.error.code).toBe('reauthentication_required');
    const other = await createTestUser(server);
    expect((await client.patch(`/api/v1/users/${other.id}`, { version: other.version, email: `moved-${other.email}` })).status).toBe(200);
  });

  test('7.5.2 users see their sessions and end the others after confirming their password', async () => {
    const { client, user } = await signedInClient(server);
    const other = new ApiClient(server);
    await other.signIn(user.username, user.password);
    const listed = (await client.get('/api/v1/sessions')).body.items;
    expect(listed).toHaveLength(2);
    const otherId = listed.find((s: { current: boolean }) => !s.current).id;
    await confirmedLongAgo(user.id);
    expect((await client.delete(`/api/v1/sessions/${otherId}`)).body.error.code).toBe('reauthentication_required');
    expect((await client.delete(`/api/v1/users/${user.id}/sessions?except_current=true`)).body.error.code).toBe('reauthentication_required');
    expect((await other.get('/api/v1/auth/me')).status).toBe(200);
    await client.post('/api/v1/auth/reauthenticate', { password: user.password });
    expect((await client.delete(`/api/v1/sessions/${otherId}`)).status).toBe(204);
    expect((await other.get('/api/v1/auth/me')).status).toBe(401);
    // Signing out this session is not a sensitive change.
    await confirmedLongAgo(user.id);
    expect((await client.post('/api/v1/auth/logout')).status).toBe(204);
  });
});

describe('V6 authentication', () => {
  test('6.3.8 the profile does not tell which addresses have accounts, and probing it is throttled', async () => {
    const taken = await createTestUser(server);
    const { client } = await signedInClient(server);
    const probe = await client.patch('/api/v1/me', { email: taken.email });
    expect(probe.status).toBe(400);
    expect(probe.body.error.fields).toEqual({ email: 'This address cannot be used; try another' });
    for (let i = 0; i < 4; i++) expect((await client.patch('/api/v1/me', { email: `try-${i}-${taken.email}` })).status).toBe(200);
    const limited = await client.patch('/api/v1/me', { email: `one-more-${taken.email}` });
    expect(limited.status).toBe(429);
    expect(limited.body.error.message).toMatch(/try again in/);
  });

  test('6.4.1 a password an admin set or generated works once: the first sign-in must choose a new one', async () => {
    const created = await admin.post('/api/v1/users', { username: 'temp-user', display_name: 'Temp', email: 'temp@example.com', generate_password: true });
    expect(created.body.user.password_change_required).toBe(true);
    const client = new ApiClient(server);
    const signedIn = await client.post('/api/v1/auth/login', { login: 'temp-user', password: created.body.generated_password });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user.password_change_required).toBe(true);
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
    const blocked = await client.get('/api/v1/projects');
    expect(blocked.status).toBe(403);
    expect(blocked.body.error.code).toBe('password_change_required');
    await expect(LiveClient.connect(server, client.cookie)).rejects.toThrow('password_change_required');
    const same = await client.put('/api/v1/me/password', { current_password: created.body.generated_password, new_password: created.body.generated_password });
    expect(same.status).toBe(400);
    const chosen = await client.put('/api/v1/me/password', { current_password: created.body.generated_password, new_password: 'my very own passphrase' });
    expect(chosen.status).toBe(200);
    expect(chosen.body.user.password_change_required).toBe(false);
    expect((await client.get('/api/v1/projects')).status).toBe(200);
    // The same holds after an admin reset.
    await admin.put(`/api/v1/users/${created.body.user.id}/password`, { password: 'reset by the admin' });
    const again = new ApiClient(server);
    expect((await again.post('/api/v1/auth/login', { login: 'temp-user', password: 'reset by the admin' })).body.user.password_change_required).toBe(true);
    expect((await again.get('/api/v1/projects')).body.error.code).toBe('password_change_required');
  });
});
