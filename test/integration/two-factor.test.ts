// Over 300 lines for a reason: two-factor sign-in's whole contract (enrolment, sign-in, recovery codes, replay, throttling, races, the admin's reset) shares one server and the TOTP helpers.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, connectSocket, createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { enrolTotp, totpCode } from '../helpers/totp.ts';
import { sha256Hex } from '../../server/src/auth/tokens.ts';
import { SIGN_OUT_EVERYONE_PHRASE } from '@roster/shared';

// Two-factor sign-in (issue 16): enrolment, the second step of a sign-in, recovery codes, replay
// and guessing, the half-signed-in browser refused everywhere, and the admin's reset. The server's
// clock (the TOTP time) is the test's, so codes and steps are exact.

let server: TestServer;
let now = new Date();
/** Moves the server's clock on by whole TOTP steps. */
const later = (steps: number) => (now = new Date(now.getTime() + steps * 30_000));

beforeAll(async () => {
  server = await startTestServer({ clock: () => now });
});
afterAll(async () => {
  await server.close();
});

async function confirmedLongAgo(userId: string) {
  await server.sql`UPDATE sessions SET authenticated_at = now() - interval '1 hour' WHERE user_id = ${userId}`;
}

/** A user with two-factor sign-in on, a client signed in with it, and the secret. */
async function enrolledUser(overrides: Parameters<typeof createTestUser>[1] = {}) {
  const { client, user } = await signedInClient(server, overrides);
  const { secret, recoveryCodes } = await enrolTotp(client, now);
  later(1);
  return { client, user, secret, recoveryCodes };
}

describe('enrolment', () => {
  test('an authenticator is set up with a first code; ten recovery codes are shown once', async () => {
    const { client, user } = await signedInClient(server);
    const started = await client.post('/api/v1/me/two-factor');
    expect(started.status).toBe(200);
    expect(started.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(started.body.uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(started.body.secret);
    expect(uri.searchParams.get('issuer')).toBe('Roster');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Roster:${user.username}@localhost`);
    // Not on until confirmed.
    expect((await client.get('/api/v1/me/two-factor')).body).toMatchObject({ enabled: false, recovery_codes_left: 0 });

    const wrong = await client.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret, now, 5) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.fields.code).toMatch(/wrong/);
    expect((await client.post('/api/v1/me/two-factor/confirm', { code: '12345' })).body.error.fields.code).toMatch(/6-digit/);

    const confirmed = await client.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret, now) });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.recovery_codes).toHaveLength(10);
    for (const code of confirmed.body.recovery_codes) expect(code).toMatch(/^[a-z2-7]{6}(-[a-z2-7]{6}){3}$/);
    expect(new Set(confirmed.body.recovery_codes).size).toBe(10);
    const status = (await client.get('/api/v1/me/two-factor')).body;
    expect(status).toMatchObject({ enabled: true, recovery_codes_left: 10, required_by: null });
    expect((await client.get('/api/v1/auth/me')).body.user.two_factor_enabled).toBe(true);
    // Stored as hashes, never as given.
    const stored = await server.sql<{ code_hash: string }[]>`SELECT code_hash FROM recovery_codes WHERE user_id = ${user.id}`;
    expect(stored).toHaveLength(10);
    for (const { code_hash } of stored) expect(confirmed.body.recovery_codes.join()).not.toContain(code_hash);
    // Nothing left to confirm.
    expect((await client.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret, now) })).status).toBe(404);
  });

  test('7.5.1 every change needs a recent password confirmation, on a browser session; an API key can do none', async () => {
    const { client, user } = await signedInClient(server);
    const key = (await client.post('/api/v1/api-keys', { name: 'script' })).body.key;
    const bearer = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
    await confirmedLongAgo(user.id);
    expect((await client.post('/api/v1/me/two-factor')).body.error.code).toBe('reauthentication_required');
    expect((await bearer.post('/api/v1/me/two-factor')).status).toBe(403);
    await client.post('/api/v1/auth/reauthenticate', { password: user.password });
    const { secret } = await enrolTotp(client, now);
    await confirmedLongAgo(user.id);
    expect((await client.post('/api/v1/me/two-factor/recovery-codes')).body.error.code).toBe('reauthentication_required');
    expect((await client.delete('/api/v1/me/two-factor')).body.error.code).toBe('reauthentication_required');
    expect((await client.post('/api/v1/me/two-factor')).body.error.code).toBe('reauthentication_required');
    for (const [method, path] of [['POST', '/me/two-factor/recovery-codes'], ['DELETE', '/me/two-factor'], ['POST', '/me/two-factor']] as const) {
      expect((await bearer.request(method, `/api/v1${path}`)).status, path).toBe(403);
    }
    const pending = await client.post('/api/v1/me/two-factor/confirm', { code: totpCode(secret, now, 1) });
    expect(pending.status).toBe(403);
    expect((await client.get('/api/v1/me/two-factor')).body.enabled).toBe(true);
  });

  test('new recovery codes replace the old ones; turning it off goes back to the password alone', async () => {
    const { client, user, recoveryCodes } = await enrolledUser();
    const renewed = await client.post('/api/v1/me/two-factor/recovery-codes');
    expect(renewed.status).toBe(200);
    expect(renewed.body.recovery_codes).toHaveLength(10);
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect((await browser.post('/api/v1/auth/second-factor', { recovery_code: recoveryCodes[0] })).status).toBe(401);
    expect((await browser.post('/api/v1/auth/second-factor', { recovery_code: renewed.body.recovery_codes[0] })).status).toBe(200);

    expect((await client.delete('/api/v1/me/two-factor')).status).toBe(204);
    expect((await client.get('/api/v1/me/two-factor')).body).toMatchObject({ enabled: false, recovery_codes_left: 0 });
    expect((await client.delete('/api/v1/me/two-factor')).status).toBe(404);
    expect((await client.post('/api/v1/me/two-factor/recovery-codes')).status).toBe(404);
    const plain = await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect(plain.body.user.two_factor_enabled).toBe(false);
    const [left] = await server.sql`SELECT (SELECT count(*)::int FROM user_totp WHERE user_id = ${user.id}) AS totp, (SELECT count(*)::int FROM recovery_codes WHERE user_id = ${user.id}) AS codes`;
    expect(left).toEqual({ totp: 0, codes: 0 });
  });

  test('a code for an enrolment started again or confirmed elsewhere (another tab) is told apart from a wrong code', async () => {
    const { client } = await signedInClient(server);
    const confirm = (started: { id: string; secret: string }, withId = true) =>
      client.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.secret, now), ...(withId ? { enrolment_id: started.id } : {}) });
    const first = (await client.post('/api/v1/me/two-factor')).body;
    const second = (await client.post('/api/v1/me/two-factor')).body;
    expect(second.id).not.toBe(first.id);
    expect((await confirm(first)).body.error).toMatchObject({ code: 'two_factor_setup_replaced' });
    // Without the enrolment, the code is only wrong, as before.
    expect((await confirm(first, false)).body.error).toMatchObject({ code: 'validation_failed' });
    expect((await confirm(second)).status).toBe(200);
    later(1);
    const late = await confirm(first);
    expect({ status: late.status, code: late.body.error.code }).toEqual({ status: 409, code: 'two_factor_set_up_elsewhere' });
  });

  test('a new phone: the old authenticator works until the new one is confirmed, then no longer', async () => {
    const { client, user, secret } = await enrolledUser();
    const started = await client.post('/api/v1/me/two-factor');
    expect(started.body.secret).not.toBe(secret);
    later(1);
    await new ApiClient(server).signInWithSecondFactor(user.username, user.password, { code: totpCode(secret, now) });
    later(1);
    const confirmed = await client.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret, now) });
    expect(confirmed.status).toBe(200);
    later(1);
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect((await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) })).status).toBe(401);
    expect((await browser.post('/api/v1/auth/second-factor', { code: totpCode(started.body.secret, now) })).status).toBe(200);
  });

  test('each change is an audit event that reaches admins and the user live', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const adminLive = await LiveClient.connect(server, admin.cookie);
    const ownLive = await LiveClient.connect(server, client.cookie);
    await enrolTotp(client, now);
    later(1);
    const before = (await client.get('/api/v1/me/two-factor')).body.recovery_codes_set;
    const made = (await client.post('/api/v1/me/two-factor/recovery-codes')).body;
    // The new set is numbered above the old one; the status and the event name it, so a tab can tell its codes are current.
    expect(made.recovery_codes_set).toBeGreaterThan(before);
    expect((await client.get('/api/v1/me/two-factor')).body.recovery_codes_set).toBe(made.recovery_codes_set);
    await client.delete('/api/v1/me/two-factor');
    for (const live of [adminLive, ownLive]) {
      const enabled = await live.event((e) => e.action === 'user.two_factor_enabled' && e.target_id === user.id);
      expect(enabled.data).toMatchObject({ replaced: false, user: { id: user.id, two_factor_enabled: true } });
      const regenerated = await live.event((e) => e.action === 'user.recovery_codes_regenerated' && e.target_id === user.id);
      expect(regenerated.data).toEqual({ user_id: user.id, recovery_codes_set: made.recovery_codes_set });
      const disabled = await live.event((e) => e.action === 'user.two_factor_disabled' && e.target_id === user.id);
      expect(disabled.data).toMatchObject({ user: { two_factor_enabled: false } });
      expect(disabled.version).toBeGreaterThan(enabled.version!);
    }
    adminLive.close();
    ownLive.close();
  });
});

describe('signing in with two factors', () => {
  test('the password opens no session: the second step does, and the session says both factors were used', async () => {
    const { user, secret } = await enrolledUser();
    const browser = new ApiClient(server);
    const first = await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ second_factor_required: true, expires_at: expect.any(String) });
    expect(Date.parse(first.body.expires_at) - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(Date.parse(first.body.expires_at) - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    expect(browser.cookie).toBeUndefined();
    const pendingHeader = first.headers.getSetCookie().find((h) => h.startsWith('roster_pending_login='))!;
    expect(pendingHeader).toMatch(/HttpOnly/i);
    expect(pendingHeader).toMatch(/SameSite=Strict/i);
    expect(pendingHeader).toMatch(/Path=\/api\/v1\/auth/i);
    // Only the session the user enrolled in exists.
    expect(await server.sql`SELECT 1 FROM sessions WHERE user_id = ${user.id}`).toHaveLength(1);

    const second = await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now).replace(/(\d{3})/, '$1 ') });
    expect(second.status).toBe(200);
    expect(second.body.user.id).toBe(user.id);
    expect(browser.pendingCookie).toBeUndefined();
    const me = await browser.get('/api/v1/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.session.amr).toEqual(['pwd', 'otp']);
    const [created] = await server.sql`SELECT data FROM events WHERE action = 'session.created' AND target_id = ${me.body.session.id}`;
    expect(created!.data.amr).toEqual(['pwd', 'otp']);
    // A pending sign-in works once.
    const replayed = new ApiClient(server);
    replayed.pendingCookie = first.headers.getSetCookie().find((h) => h.startsWith('roster_pending_login='))!.split(';')[0];
    later(1);
    expect((await replayed.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) })).body.error.code).toBe('unauthenticated');
  });

  test('a user without two-factor sign-in still signs in with the password alone', async () => {
    const user = await createTestUser(server);
    const response = await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect(response.body.user.two_factor_enabled).toBe(false);
    expect(response.headers.getSetCookie().some((h) => h.startsWith('roster_pending_login='))).toBe(false);
  });

  test('a wrong code is refused, audited, and the pending sign-in can try again', async () => {
    const { user, secret } = await enrolledUser();
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    const wrong = await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now, 3) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'invalid_credentials', fields: { code: expect.stringMatching(/wrong/) } });
    expect((await browser.get('/api/v1/auth/me')).status).toBe(401);
    const [failed] = await server.sql`SELECT actor_id, data FROM events WHERE action = 'auth.second_factor_failed' AND target_id = ${user.id}`;
    expect(failed).toEqual({ actor_id: user.id, data: { user_id: user.id, method: 'totp' } });
    for (const body of [{}, { code: '123456', recovery_code: 'abcdef-ghijkl-mnopqr-stuvwx' }, { code: 'abcdef' }, { recovery_code: 'short' }, { code: '123456', extra: 1 }]) {
      expect((await browser.post('/api/v1/auth/second-factor', body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) })).status).toBe(200);
  });

  test('a recovery code works once, in any case or spacing; the user is told how many are left', async () => {
    const { user, recoveryCodes, client } = await enrolledUser();
    const ownLive = await LiveClient.connect(server, client.cookie);
    const browser = new ApiClient(server);
    await browser.signInWithSecondFactor(user.username, user.password, { recovery_code: ` ${recoveryCodes[3]!.toUpperCase().replace(/-/g, ' ')} ` });
    expect((await browser.get('/api/v1/auth/me')).body.session.amr).toEqual(['pwd', 'otp']);
    const used = await ownLive.event((e) => e.action === 'auth.recovery_code_used');
    expect(used.data).toEqual({ user_id: user.id, remaining: 9 });
    expect((await client.get('/api/v1/me/two-factor')).body.recovery_codes_left).toBe(9);
    const again = new ApiClient(server);
    await again.post('/api/v1/auth/login', { login: user.username, password: user.password });
    const refused = await again.post('/api/v1/auth/second-factor', { recovery_code: recoveryCodes[3] });
    expect(refused.status).toBe(401);
    expect(refused.body.error.fields.recovery_code).toMatch(/already used/);
    ownLive.close();
  });

  test('no code works twice: not the one that confirmed the enrolment, not one already used to sign in, not an older one', async () => {
    const { client, user } = await signedInClient(server);
    const started = (await client.post('/api/v1/me/two-factor')).body;
    const enrolCode = totpCode(started.secret, now);
    await client.post('/api/v1/me/two-factor/confirm', { code: enrolCode });
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect((await browser.post('/api/v1/auth/second-factor', { code: enrolCode })).status).toBe(401);
    // The next step's code is within the accepted window, and later than the one used.
    const next = totpCode(started.secret, now, 1);
    expect((await browser.post('/api/v1/auth/second-factor', { code: next })).status).toBe(200);
    const other = new ApiClient(server);
    await other.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect((await other.post('/api/v1/auth/second-factor', { code: next })).status).toBe(401);
    later(1);
    // The previous step's code is still within the window, but not later than the last one used.
    expect((await other.post('/api/v1/auth/second-factor', { code: totpCode(started.secret, now, -1) })).status).toBe(401);
    later(1);
    expect((await other.post('/api/v1/auth/second-factor', { code: totpCode(started.secret, now) })).status).toBe(200);
  });

  test('codes from outside one step either way are refused', async () => {
    const { user, secret } = await enrolledUser();
    later(3);
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    for (const steps of [-2, 2, 10]) expect((await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now, steps) })).status, String(steps)).toBe(401);
    expect((await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now, -1) })).status).toBe(200);
  });

  test('code guesses are throttled per account, before the code is checked: the right code waits too', async () => {
    const { user, secret } = await enrolledUser();
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    for (let i = 0; i < 5; i++) expect((await browser.post('/api/v1/auth/second-factor', { code: String(100000 + i) })).status).toBe(401);
    const limited = await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.error.message).toMatch(/wrong codes/);
    // Another browser with the password gets no fresh allowance.
    const other = new ApiClient(server);
    await other.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect((await other.post('/api/v1/auth/second-factor', { recovery_code: 'aaaaaa-aaaaaa-aaaaaa-aaaaaa' })).status).toBe(429);
    const [counted] = await server.sql`SELECT count(*)::int AS n FROM rate_limit_hits WHERE scope = 'second_factor' AND key = ${user.id}`;
    expect(counted!.n).toBe(5);
  });

  test('a pending sign-in ends: after minutes, when the password changes, when the account is deactivated', async () => {
    const { user, secret, client } = await enrolledUser();
    const late = new ApiClient(server);
    await late.post('/api/v1/auth/login', { login: user.username, password: user.password });
    await server.sql`UPDATE pending_logins SET expires_at = now() - interval '1 second' WHERE user_id = ${user.id}`;
    const expired = await late.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) });
    expect(expired.status).toBe(401);
    expect(expired.body.error).toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/password again/) });

    const changed = new ApiClient(server);
    await changed.post('/api/v1/auth/login', { login: user.username, password: user.password });
    await client.put('/api/v1/me/password', { current_password: user.password, new_password: 'another long passphrase' });
    expect((await changed.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) })).body.error.code).toBe('unauthenticated');

    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const deactivated = new ApiClient(server);
    await deactivated.post('/api/v1/auth/login', { login: user.username, password: 'another long passphrase' });
    const current = (await admin.get(`/api/v1/users/${user.id}`)).body.user;
    await admin.patch(`/api/v1/users/${user.id}`, { version: current.version, status: 'inactive' });
    // The deactivation ended the sign-in halfway, as it ends sessions: the browser starts again.
    expect((await deactivated.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) })).body.error.code).toBe('unauthenticated');
    // And a deactivated user with the right password is told at the first step.
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: 'another long passphrase' })).status).toBe(403);
    expect(await server.sql`SELECT 1 FROM sessions WHERE user_id = ${user.id}`).toHaveLength(0);
  });

  test('without a pending sign-in the second step is refused', async () => {
    const response = await new ApiClient(server).post('/api/v1/auth/second-factor', { code: '123456' });
    expect(response.status).toBe(401);
    const forged = new ApiClient(server);
    forged.pendingCookie = 'roster_pending_login=abcdefghijklmnopqrstuvwxyz234567';
    expect((await forged.post('/api/v1/auth/second-factor', { code: '123456' })).body.error.code).toBe('unauthenticated');
  });
});

describe('a half-signed-in browser is signed in nowhere', () => {
  // A sign-in halfway is not a session, but what ends all of a person's sessions must end it too:
  // otherwise a deactivation undone within its five minutes, or "sign out everywhere", left it
  // waiting for the code.
  test("what ends all of a person's sessions ends their sign-ins halfway too", async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const endings: [string, (userId: string) => Promise<void>][] = [
      ['deactivated and reactivated', async (userId) => {
        const user = (await admin.get(`/api/v1/users/${userId}`)).body.user;
        const off = await admin.patch(`/api/v1/users/${userId}`, { version: user.version, status: 'inactive' });
        expect(off.status).toBe(200);
        expect((await admin.patch(`/api/v1/users/${userId}`, { version: off.body.user.version, status: 'active' })).status).toBe(200);
      }],
      ['signed out everywhere by an admin', async (userId) => {
        expect((await admin.delete(`/api/v1/users/${userId}/sessions`)).status).toBe(204);
      }],
      ['everyone signed out', async () => {
        expect((await admin.post('/api/v1/sessions/revoke-all', { confirm: SIGN_OUT_EVERYONE_PHRASE, keep_own: true })).status).toBe(200);
      }],
    ];
    for (const [name, end] of endings) {
      const { user, secret } = await enrolledUser();
      const browser = new ApiClient(server);
      expect((await browser.post('/api/v1/auth/login', { login: user.username, password: user.password })).body.second_factor_required).toBe(true);
      await end(user.id);
      later(1);
      const second = await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) });
      expect(second.status, name).toBe(401);
      expect(await server.sql`SELECT 1 FROM sessions WHERE user_id = ${user.id}`, name).toHaveLength(0);
    }
  });
  test('the API, the live channel, forward authentication and the authorization pages all refuse it', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    await admin.post('/api/v1/applications', { name: 'Proxied', forward_auth_host: 'proxied.example.com' });
    const { user } = await enrolledUser({ role: 'admin' });
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    const token = browser.pendingCookie!.split('=')[1]!;
    expect(browser.cookie).toBeUndefined();
    for (const path of ['/api/v1/auth/me', '/api/v1/users', '/api/v1/me/two-factor', '/api/v1/sessions', '/api/v1/authorizations/abcdefghijklmnop']) {
      expect((await browser.get(path)).status, path).toBe(401);
    }
    expect((await browser.post('/api/v1/me/two-factor')).status).toBe(401);
    expect((await browser.post('/api/v1/auth/reauthenticate', { password: user.password })).status).toBe(401);
    const verify = await browser.request('GET', '/api/v1/auth/verify', undefined, { headers: { 'x-forwarded-host': 'proxied.example.com' } });
    expect(verify.status).toBe(401);
    await expect(connectSocket(server, { cookie: browser.pendingCookie })).rejects.toThrow('unauthenticated');
    // Its token is no session token either, wherever it is presented.
    const asSession = `roster_session=${token}`;
    expect((await fetch(`${server.url}/api/v1/auth/me`, { headers: { cookie: asSession } })).status).toBe(401);
    await expect(connectSocket(server, { cookie: asSession })).rejects.toThrow('unauthenticated');
    const forwarded = await fetch(`${server.url}/api/v1/auth/verify`, { headers: { cookie: asSession, 'x-forwarded-host': 'proxied.example.com' } });
    expect(forwarded.status).toBe(401);
  });
});

describe('an admin resets a second factor', () => {
  test('the authenticator and codes go, every session ends, the user signs in with the password and may set it up again', async () => {
    const { client: admin, user: adminUser } = await signedInClient(server, { role: 'admin' });
    const { user, client, recoveryCodes } = await enrolledUser();
    const adminLive = await LiveClient.connect(server, admin.cookie);
    const ownLive = await LiveClient.connect(server, client.cookie);
    const reset = await admin.delete(`/api/v1/users/${user.id}/two-factor`);
    expect(reset.status).toBe(200);
    expect(reset.body.user.two_factor_enabled).toBe(false);
    await ownLive.until(() => ownLive.ended ?? undefined, 'session.ended');
    expect(ownLive.ended).toEqual({ reason: 'two_factor_reset' });
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    const event = await adminLive.event((e) => e.action === 'user.two_factor_reset' && e.target_id === user.id);
    expect(event.actor.id).toBe(adminUser.id);
    expect(event.data).toMatchObject({ sessions_ended: 1, user: { two_factor_enabled: false } });
    const back = new ApiClient(server);
    expect((await back.signIn(user.username, user.password)).two_factor_enabled).toBe(false);
    expect((await back.post('/api/v1/auth/second-factor', { recovery_code: recoveryCodes[0] })).status).toBe(401);
    await enrolTotp(back, now);
    adminLive.close();
    ownLive.close();
  });

  test('6.4.3 an admin\'s password reset leaves it on: the temporary password still asks for the code', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { user, secret } = await enrolledUser();
    expect((await admin.put(`/api/v1/users/${user.id}/password`, { password: 'a temporary passphrase' })).status).toBe(200);
    const back = new ApiClient(server);
    const first = await back.post('/api/v1/auth/login', { login: user.username, password: 'a temporary passphrase' });
    expect(first.body).toMatchObject({ second_factor_required: true });
    expect(back.cookie).toBeUndefined();
    const signedIn = await back.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user).toMatchObject({ two_factor_enabled: true, password_change_required: true });
  });

  test('6.4.3 a mailed reset link leaves it on: the browser that follows it gets the code step, not a session', async () => {
    const { user, secret } = await enrolledUser();
    await server.sql`INSERT INTO password_resets (user_id, token_hash, expires_at) VALUES (${user.id}, ${sha256Hex('reset-with-2fa')}, now() + interval '1 hour')`;
    const browser = new ApiClient(server);
    const done = await browser.post('/api/v1/auth/password-reset/complete', { token: 'reset-with-2fa', password: 'a brand new passphrase' });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ second_factor_required: true });
    expect(done.body.user).toBeUndefined();
    expect(browser.cookie).toBeUndefined();
    expect((await browser.get('/api/v1/auth/me')).status).toBe(401);
    expect((await browser.post('/api/v1/auth/second-factor', { code: '000000' })).status).toBe(401);
    const signedIn = await browser.post('/api/v1/auth/second-factor', { code: totpCode(secret, now) });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user.two_factor_enabled).toBe(true);
    expect((await browser.get('/api/v1/auth/me')).body.session.amr).toEqual(['pwd', 'otp']);
    // Without two-factor sign-in the link signs in at once, as before.
    const { user: plain } = await signedInClient(server);
    await server.sql`INSERT INTO password_resets (user_id, token_hash, expires_at) VALUES (${plain.id}, ${sha256Hex('reset-without-2fa')}, now() + interval '1 hour')`;
    const other = new ApiClient(server);
    const plainDone = await other.post('/api/v1/auth/password-reset/complete', { token: 'reset-without-2fa', password: 'a brand new passphrase' });
    expect(plainDone.body.user.id).toBe(plain.id);
    expect(other.cookie).toBeDefined();
  });

  test('refused: one\'s own (the account page does that), a user without it, moderators', async () => {
    const { client: admin, user: adminUser } = await signedInClient(server, { role: 'admin' });
    const { client: moderator } = await signedInClient(server, { role: 'moderator' });
    expect((await admin.delete(`/api/v1/users/${adminUser.id}/two-factor`)).status).toBe(409);
    const plain = await createTestUser(server);
    const none = await admin.delete(`/api/v1/users/${plain.id}/two-factor`);
    expect(none.status).toBe(404);
    expect(none.body.error.message).toMatch(/has not set up/);
    const { user } = await enrolledUser();
    expect((await moderator.delete(`/api/v1/users/${user.id}/two-factor`)).status).toBe(403);
    expect((await admin.get(`/api/v1/users/${user.id}`)).body.user.two_factor_enabled).toBe(true);
  });
});

describe('races', () => {
  // Each run creates and enrols a user (argon2 hashes): slow on a loaded machine, not a timing assertion.
  test('one pending sign-in, many right codes at once: exactly one session (40 runs)', { timeout: 120_000 }, async () => {
    for (let run = 0; run < 40; run++) {
      const { user, secret } = await enrolledUser();
      const browser = new ApiClient(server);
      await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
      const codes = [totpCode(secret, now, -1), totpCode(secret, now), totpCode(secret, now, 1)];
      const answers = await Promise.all(
        Array.from({ length: 4 }, (_, i) => {
          const copy = new ApiClient(server);
          copy.pendingCookie = browser.pendingCookie;
          return copy.post('/api/v1/auth/second-factor', { code: codes[i % 3] });
        }),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 200), `run ${run}: ${statuses}`).toHaveLength(1);
      expect(statuses.every((s) => s === 200 || s === 401), `run ${run}: ${statuses}`).toBe(true);
      const [sessions] = await server.sql`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${user.id} AND amr = '{pwd,otp}'`;
      expect(sessions!.n).toBe(1);
    }
  });

  test('one code, many browsers at once: it signs in one of them (30 runs)', { timeout: 120_000 }, async () => {
    for (let run = 0; run < 30; run++) {
      const { user, secret } = await enrolledUser();
      const browsers = Array.from({ length: 4 }, () => new ApiClient(server));
      for (const browser of browsers) await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
      const code = totpCode(secret, now);
      const statuses = (await Promise.all(browsers.map((b) => b.post('/api/v1/auth/second-factor', { code })))).map((a) => a.status);
      expect(statuses.filter((s) => s === 200), `run ${run}: ${statuses}`).toHaveLength(1);
      expect(statuses.filter((s) => s >= 500), `run ${run}: ${statuses}`).toHaveLength(0);
    }
  });

  test('one recovery code, many browsers at once: it works once (30 runs)', { timeout: 120_000 }, async () => {
    for (let run = 0; run < 30; run++) {
      const { user, recoveryCodes } = await enrolledUser();
      const browsers = Array.from({ length: 4 }, () => new ApiClient(server));
      for (const browser of browsers) await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
      const statuses = (await Promise.all(browsers.map((b) => b.post('/api/v1/auth/second-factor', { recovery_code: recoveryCodes[0] })))).map((a) => a.status);
      expect(statuses.filter((s) => s === 200), `run ${run}: ${statuses}`).toHaveLength(1);
      const [left] = await server.sql`SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = ${user.id}`;
      expect(left!.n).toBe(9);
    }
  });
});
