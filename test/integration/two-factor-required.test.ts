import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, connectSocket, createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { relyingParty, signInThroughRoster, walkThroughRoster } from '../helpers/relying-party.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { enrolTotp, totpCode } from '../helpers/totp.ts';
import * as client from 'openid-client';

// REQUIRE_2FA_FOR_STAFF: admins and moderators without a second factor get a grace period from
// their first request, are sent to set it up, and after it can do nothing else; and what
// applications are told about two-factor sign-ins (amr).

let server: TestServer;
let admin: ApiClient;
const redirectUri = 'http://localhost:4999/callback';

beforeAll(async () => {
  server = await startTestServer({ env: { REQUIRE_2FA_FOR_STAFF: 'true', REQUIRE_2FA_GRACE_DAYS: '2' } });
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  await enrolTotp(admin);
});
afterAll(async () => {
  await server.close();
});

/** Ends the user's grace period now, as if its days had passed. */
async function graceOver(userId: string) {
  await server.sql`UPDATE users SET two_factor_due_at = now() - interval '1 second' WHERE id = ${userId}`;
}

describe('required for staff', () => {
  test('the grace period starts at the first request and is told; until it ends, everything works', async () => {
    const { client: moderator } = await signedInClient(server, { role: 'moderator' });
    const me = (await moderator.get('/api/v1/auth/me')).body;
    const due = Date.parse(me.two_factor_required_by);
    expect(due - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
    expect(due - Date.now()).toBeLessThanOrEqual(2 * 86_400_000);
    // It starts once: asking again tells the same time.
    expect((await moderator.get('/api/v1/me/two-factor')).body.required_by).toBe(me.two_factor_required_by);
    expect((await moderator.get('/api/v1/users')).status).toBe(200);
    const live = await LiveClient.connect(server, moderator.cookie);
    live.close();
  });

  test('plain users are not asked; staff who have it are not asked', async () => {
    const { client: user } = await signedInClient(server);
    expect((await user.get('/api/v1/auth/me')).body.two_factor_required_by).toBeNull();
    expect((await user.get('/api/v1/me/two-factor')).body).toMatchObject({ required: false, required_by: null });
    expect((await admin.get('/api/v1/auth/me')).body.two_factor_required_by).toBeNull();
  });

  test('after the grace period only setting it up (and signing out) works: the API, the live channel, applications and forward auth refuse', async () => {
    await admin.post('/api/v1/applications', { name: 'Staff wiki', forward_auth_host: 'wiki.example.com' });
    const created = await admin.post('/api/v1/applications', { name: 'Staff app', redirect_uris: [redirectUri] });
    const config = await relyingParty(server, created.body.application.client_id, created.body.client_secret);
    const { client: staff, user } = await signedInClient(server, { role: 'admin' });
    // Signed in to the application during the grace period: the provider's session exists.
    await staff.get('/api/v1/auth/me');
    const jar = new Map<string, string>();
    await signInThroughRoster(server, staff, config, redirectUri, { scope: 'openid', jar });
    await graceOver(user.id);

    for (const path of ['/api/v1/users', '/api/v1/sessions', '/api/v1/api-keys', '/api/v1/events']) {
      const refused = await staff.get(path);
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code, path).toBe('two_factor_setup_required');
    }
    expect((await staff.patch('/api/v1/me', { display_name: 'Not yet' })).body.error.code).toBe('two_factor_setup_required');
    const me = await staff.get('/api/v1/auth/me');
    expect(me.status).toBe(200);
    expect(Date.parse(me.body.two_factor_required_by)).toBeLessThanOrEqual(Date.now());
    await expect(connectSocket(server, { cookie: staff.cookie })).rejects.toThrow('two_factor_setup_required');
    const verify = await staff.request('GET', '/api/v1/auth/verify', undefined, { headers: { 'x-forwarded-host': 'wiki.example.com' } });
    expect(verify.status).toBe(403);
    // The provider's session from before does not sign them in to the application again.
    const silent = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'x',
    });
    const { location } = await walkThroughRoster(server, staff, silent.href, { jar, until: (target) => target.href.startsWith(redirectUri) });
    expect(location.searchParams.get('error')).toBe('login_required');
    await expect(signInThroughRoster(server, staff, config, redirectUri, { scope: 'openid', jar })).rejects.toThrow(/two_factor_setup_required/);

    // Setting it up opens everything again (the sign-in counts as a recent password check).
    await enrolTotp(staff);
    expect((await staff.get('/api/v1/users')).status).toBe(200);
    (await LiveClient.connect(server, staff.cookie)).close();
    expect((await staff.request('GET', '/api/v1/auth/verify', undefined, { headers: { 'x-forwarded-host': 'wiki.example.com' } })).status).toBe(200);
    expect((await staff.post('/api/v1/auth/logout')).status).toBe(204);
  });

  test('a grace period no longer asked of someone is forgotten: promoted again, they get a new one, not an expired one', async () => {
    const { client: staff, user } = await signedInClient(server, { role: 'moderator' });
    await staff.get('/api/v1/auth/me');
    await graceOver(user.id);
    expect((await staff.get('/api/v1/users')).body.error.code).toBe('two_factor_setup_required');
    const demote = async (role: string) => {
      const { version } = (await admin.get(`/api/v1/users/${user.id}`)).body.user;
      expect((await admin.patch(`/api/v1/users/${user.id}`, { version, role })).status).toBe(200);
    };
    await demote('user');
    expect((await staff.get('/api/v1/auth/me')).body.two_factor_required_by).toBeNull();
    expect((await server.sql`SELECT two_factor_due_at FROM users WHERE id = ${user.id}`)[0]!.two_factor_due_at).toBeNull();
    await demote('moderator');
    const again = Date.parse((await staff.get('/api/v1/auth/me')).body.two_factor_required_by);
    expect(again - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
    expect((await staff.get('/api/v1/users')).status).toBe(200);
  });

  test('an open connection is closed when the grace period runs out, and cannot come back', async () => {
    const { client: staff, user } = await signedInClient(server, { role: 'moderator' });
    await staff.get('/api/v1/auth/me');
    const live = await LiveClient.connect(server, staff.cookie);
    await graceOver(user.id);
    await server.live.sweepSessions();
    await live.disconnected();
    await expect(connectSocket(server, { cookie: staff.cookie })).rejects.toThrow('two_factor_setup_required');
  });

  test('after an admin resets it there is no new grace period: staff set it up at their next sign-in', async () => {
    const { client: staff, user } = await signedInClient(server, { role: 'moderator' });
    await enrolTotp(staff);
    expect((await admin.delete(`/api/v1/users/${user.id}/two-factor`)).status).toBe(200);
    const back = new ApiClient(server);
    await back.signIn(user.username, user.password);
    expect((await back.get('/api/v1/projects')).body.error.code).toBe('two_factor_setup_required');
    await enrolTotp(back);
    expect((await back.get('/api/v1/projects')).status).toBe(200);
  });

  test('with a grace of 0 days, staff set it up right after signing in; an API key of theirs waits too', async () => {
    const strict = await startTestServer({ databaseUrl: server.databaseUrl, env: { REQUIRE_2FA_FOR_STAFF: 'true', REQUIRE_2FA_GRACE_DAYS: '0' } });
    try {
      const user = await createTestUser(strict, { role: 'moderator' });
      const staff = new ApiClient(strict);
      await staff.signIn(user.username, user.password);
      expect((await staff.get('/api/v1/users')).body.error.code).toBe('two_factor_setup_required');
      expect((await staff.get('/api/v1/me/two-factor')).body).toMatchObject({ enabled: false, required: true, required_by: expect.any(String) });
      await enrolTotp(staff);
      expect((await staff.get('/api/v1/users')).status).toBe(200);
      expect((await staff.get('/api/v1/me/two-factor')).body).toMatchObject({ enabled: true, required: true, required_by: null });
      // Staff who must have it cannot turn it off; they may replace it.
      const off = await staff.delete('/api/v1/me/two-factor');
      expect(off.status).toBe(403);
      expect(off.body.error.message).toMatch(/new authenticator/);
      expect((await staff.post('/api/v1/me/two-factor')).status).toBe(200);

      const keyHolder = await createTestUser(strict, { role: 'admin' });
      const holder = new ApiClient(strict);
      await holder.signIn(keyHolder.username, keyHolder.password);
      const key = await holder.post('/api/v1/api-keys', { name: 'script' });
      expect(key.body.error.code).toBe('two_factor_setup_required');
    } finally {
      await strict.close();
    }
  });
});

describe('applications are told how people signed in', () => {
  test('the ID token says amr ["pwd", "otp"] after a second factor, ["pwd"] without one', async () => {
    const created = await admin.post('/api/v1/applications', { name: 'Amr app', redirect_uris: [redirectUri] });
    const config = await relyingParty(server, created.body.application.client_id, created.body.client_secret);
    const { client: browser, user } = await signedInClient(server);
    const plain = await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid' });
    expect(plain.tokens.claims()!.amr).toEqual(['pwd']);
    const { secret } = await enrolTotp(browser);
    const twoFactor = new ApiClient(server);
    await twoFactor.signInWithSecondFactor(user.username, user.password, { code: totpCode(secret, new Date(), 1) });
    const { tokens } = await signInThroughRoster(server, twoFactor, config, redirectUri, { scope: 'openid' });
    expect(tokens.claims()!.amr).toEqual(['pwd', 'otp']);
  });

  test('a half-signed-in browser is sent to sign in by the provider', async () => {
    const created = await admin.post('/api/v1/applications', { name: 'Pending app', redirect_uris: [redirectUri] });
    const config = await relyingParty(server, created.body.application.client_id, created.body.client_secret);
    const { client: enrolling, user } = await signedInClient(server);
    await enrolTotp(enrolling);
    const browser = new ApiClient(server);
    await browser.post('/api/v1/auth/login', { login: user.username, password: user.password });
    expect(browser.pendingCookie).toBeDefined();
    await expect(signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid' })).rejects.toThrow(/authorization page: 401/);
  });
});
