import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { runCli } from '../helpers/processes.ts';
import { deliveredLogout, logoutReceiver, relyingParty, signInThroughRoster, registerApplication as registerApplicationAs } from '../helpers/relying-party.ts';
import { useTestServer } from '../helpers/server.ts';

// Roster as an OpenID provider, with openid-client as a real relying party.

const server = useTestServer();
let admin: ApiClient;
let receiver: Awaited<ReturnType<typeof logoutReceiver>>;
const redirectUri = 'http://localhost:4999/callback';

beforeAll(async () => {
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  receiver = await logoutReceiver(`${server.url}/oidc`);
});
afterAll(async () => {
  await receiver.close();
});

const registerApplication = (fields: Parameters<typeof registerApplicationAs>[2] = {}) =>
  registerApplicationAs(admin, { redirectUri, logoutUri: receiver.url }, fields);

describe('OpenID Connect', () => {
  test('discovery is served under /oidc and at the root', async () => {
    const root = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
    expect(root).toMatchObject({ issuer: `${server.url}/oidc`, response_types_supported: ['code'], backchannel_logout_supported: true });
    expect(root.code_challenge_methods_supported).toEqual(['S256']);
  });

  test('code flow with PKCE: ID token claims, userinfo, refresh, introspection', async () => {
    const { config } = await registerApplication();
    const { client: browser, user } = await signedInClient(server, { role: 'moderator' });
    const { tokens, consentAsked } = await signInThroughRoster(server, browser, config, redirectUri);
    expect(consentAsked).toBe(true);
    expect(tokens.claims()).toMatchObject({ sub: user.id, iss: `${server.url}/oidc` });
    expect(tokens.expires_in).toBeLessThanOrEqual(300);
    const info = await client.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info).toMatchObject({ sub: user.id, preferred_username: user.username, name: user.display_name, email: user.email, roles: ['moderator'] });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    const introspected = await client.tokenIntrospection(config, refreshed.access_token);
    expect(introspected).toMatchObject({ active: true, sub: user.id });
  });

  test('someone signed in to Roster is not asked again once they allowed the application', async () => {
    const { application, config } = await registerApplication();
    const { client: browser, user } = await signedInClient(server);
    expect((await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid profile' })).consentAsked).toBe(true);
    expect((await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid profile' })).consentAsked).toBe(false);
    // The session and the user both name the application.
    const [session] = (await browser.get('/api/v1/sessions')).body.items;
    expect(session.applications).toEqual([{ id: application.id, name: application.name }]);
    const signIns = await server.sql`SELECT data FROM events WHERE action = 'application.signed_in' AND target_id = ${application.id}`;
    expect(signIns.map((e) => e.data)).toEqual([1, 2].map(() => ({ user_id: user.id, session_id: session.id, scopes: ['openid', 'profile'] })));
    expect((await admin.get(`/api/v1/users/${user.id}/applications`)).body.items).toMatchObject([{ name: application.name, scopes: ['openid', 'profile'] }]);
  });

  test('deactivation: a signed logout token reaches the application within a second; refresh and introspection refuse', async () => {
    const { application, config } = await registerApplication();
    const { client: browser, user } = await signedInClient(server);
    const { tokens } = await signInThroughRoster(server, browser, config, redirectUri);
    const before = receiver.received.length;
    const started = performance.now();
    expect((await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' })).status).toBe(200);
    await expect.poll(() => receiver.received.length, { timeout: 2000, interval: 20 }).toBeGreaterThan(before);
    const logout = receiver.received.at(-1)!;
    expect(logout.at - started).toBeLessThan(1000);
    expect(logout.claims).toMatchObject({ sub: user.id, aud: application.client_id, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(logout.claims.sid).toBeTruthy();
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: false });
    expect(await deliveredLogout(server, user.id)).toMatchObject({ attempts: 1, reason: 'deactivated' });
  });

  test('signing out of Roster signs the application sessions made in that session out', async () => {
    const { config } = await registerApplication();
    const { client: browser, user } = await signedInClient(server);
    await signInThroughRoster(server, browser, config, redirectUri);
    const before = receiver.received.length;
    expect((await browser.post('/api/v1/auth/logout')).status).toBe(204);
    await expect.poll(() => receiver.received.filter((r) => r.claims.sub === user.id).length, { timeout: 2000 }).toBe(1);
    expect(receiver.received.length).toBe(before + 1);
  });

  test("the provider never signs anyone in on its own: without Roster's session, or for someone else, it asks again", async () => {
    const { config } = await registerApplication();
    const { client: browser, user } = await signedInClient(server);
    const jar = new Map<string, string>();
    await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid', jar });
    // Roster's session runs out (idle) without anyone ending it: the provider's cookie alone is not enough.
    await server.sql`UPDATE sessions SET last_seen_at = now() - interval '400 days', authenticated_at = now() - interval '400 days', created_at = now() - interval '400 days' WHERE user_id = ${user.id}`;
    await expect(signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid', jar, prompt: 'none' })).rejects.toMatchObject({ error: 'login_required' });
    // Someone else signs in to Roster in the same browser: the application gets them, not the last person.
    const { client: other, user: otherUser } = await signedInClient(server);
    const { tokens } = await signInThroughRoster(server, other, config, redirectUri, { scope: 'openid', jar });
    expect(tokens.claims()!.sub).toBe(otherUser.id);
    // The provider signed the last person out on the way, and told the application through Roster's outbox.
    await expect.poll(() => receiver.received.some((r) => r.claims.sub === user.id), { timeout: 2000 }).toBe(true);
    const [delivery] = await server.sql`SELECT reason, delivered_at FROM logout_deliveries WHERE account_id = ${user.id}`;
    expect(delivery).toMatchObject({ reason: 'signed_out_at_provider' });
  });

  test("an application's own sign-out asks first, ends the provider's session and tells the applications; the console stays signed in", async () => {
    const { config } = await registerApplication();
    const { client: browser, user } = await signedInClient(server);
    const jar = new Map<string, string>();
    const { tokens } = await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid', jar });
    const cookies = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const asked = await fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }), { headers: { cookie: cookies() } });
    const html = await asked.text();
    expect(html).toContain('You stay signed in to the Roster console');
    expect(html).not.toMatch(/googleapis|https?:\/\/(?!localhost)/);
    const form = new URLSearchParams([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    form.set('logout', 'yes');
    const action = /<form[^>]+action="([^"]+)"/.exec(html)![1]!;
    const confirmed = await fetch(new URL(action, server.url), { method: 'POST', body: form, redirect: 'manual', headers: { cookie: cookies() } });
    expect(confirmed.status).toBe(303);
    await expect.poll(() => receiver.received.some((r) => r.claims.sub === user.id), { timeout: 2000 }).toBe(true);
    expect((await browser.get('/api/v1/auth/me')).status).toBe(200);
  });

  test('who may use an application is checked at sign-in; narrowing it ends existing sign-ins', async () => {
    const { application, config } = await registerApplication({ access: 'roles', allowed_roles: ['admin'] });
    const { client: browser } = await signedInClient(server);
    await expect(signInThroughRoster(server, browser, config, redirectUri)).rejects.toMatchObject({ error: 'access_denied' });
    const { config: open } = await registerApplication();
    const { client: member, user } = await signedInClient(server);
    const { tokens } = await signInThroughRoster(server, member, open, redirectUri);
    const openApp = (await admin.get('/api/v1/applications')).body.items.find((a: { client_id: string }) => a.client_id === open.clientMetadata().client_id);
    expect((await admin.patch(`/api/v1/applications/${openApp.id}`, { version: openApp.version, access: 'users', user_ids: [] })).status).toBe(200);
    await expect(client.refreshTokenGrant(open, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect.poll(() => receiver.received.some((r) => r.claims.sub === user.id), { timeout: 2000 }).toBe(true);
    expect(application.access).toBe('roles');
  });

  test('renaming or letting more people in keeps sign-ins; the audit log names what changed', async () => {
    const { application, config } = await registerApplication({ access: 'roles', allowed_roles: ['user'] });
    const { client: browser } = await signedInClient(server);
    const { tokens } = await signInThroughRoster(server, browser, config, redirectUri);
    // The console sends every field on each edit: only real changes count.
    const edited = await admin.patch(`/api/v1/applications/${application.id}`, {
      version: application.version,
      name: `${application.name} (renamed)`,
      access: 'roles',
      allowed_roles: ['user', 'moderator'],
      user_ids: [],
      redirect_uris: application.redirect_uris,
    });
    expect(edited.status).toBe(200);
    expect((await client.refreshTokenGrant(config, tokens.refresh_token!)).access_token).toBeTruthy();
    const [event] = await server.sql`SELECT data FROM events WHERE action = 'application.updated' AND target_id = ${application.id}`;
    expect(event!.data.changes).toEqual(['name', 'allowed_roles']);
  });

  test('deleting someone an application lets in: it no longer lists them, a version on, with its event; the others stay signed in', async () => {
    const { client: staying, user: stayer } = await signedInClient(server);
    const { user: leaving } = await signedInClient(server);
    const { application, config } = await registerApplication({ access: 'users', user_ids: [stayer.id, leaving.id] });
    const { tokens } = await signInThroughRoster(server, staying, config, redirectUri);
    expect((await admin.delete(`/api/v1/users/${leaving.id}`)).status).toBe(204);
    const listed = (await admin.ok('GET /applications')).items.find((a) => a.id === application.id)!;
    expect(listed).toMatchObject({ version: application.version + 1, users: [{ id: stayer.id }] });
    const events = await server.sql`SELECT data, version FROM events WHERE action = 'application.updated' AND target_id = ${application.id}`;
    expect(events.map((e) => [e.version, e.data.changes, e.data.ended_sign_ins, e.data.application.users.length])).toEqual([[application.version + 1, ['users'], false, 1]]);
    expect((await client.refreshTokenGrant(config, tokens.refresh_token!)).access_token).toBeTruthy();
  });

  test('bad applications are refused whole, with the field named', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'No way in' }, 'redirect_uris'],
      [{ name: 'Plain http', redirect_uris: ['http://app.example.com/cb'] }, 'redirect_uris.0'],
      [{ name: 'Fragment', redirect_uris: ['https://app.example.com/cb#x'] }, 'redirect_uris.0'],
      [{ name: 'Script', redirect_uris: ['javascript:alert(1)'] }, 'redirect_uris.0'],
      [{ name: 'Host', forward_auth_host: 'not a host' }, 'forward_auth_host'],
      [{ name: 'Ghost', redirect_uris: [redirectUri], access: 'users', user_ids: ['00000000-0000-4000-8000-000000000000'] }, 'user_ids'],
      [{ name: '', redirect_uris: [redirectUri] }, 'name'],
      [{ name: 'Extra', redirect_uris: [redirectUri], client_secret: 'mine' }, 'client_secret'],
    ];
    const before = (await admin.get('/api/v1/applications')).body.items.length;
    for (const [body, field] of cases) {
      const refused = await admin.post('/api/v1/applications', body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('validation_failed');
      expect(Object.keys(refused.body.error.fields), JSON.stringify(refused.body)).toContain(field);
    }
    expect((await admin.get('/api/v1/applications')).body.items.length).toBe(before);
    const { client: moderator } = await signedInClient(server, { role: 'moderator' });
    expect((await moderator.get('/api/v1/applications')).status).toBe(403);
    expect((await moderator.post('/api/v1/applications', { name: 'Mine', redirect_uris: [redirectUri] })).status).toBe(403);
  });

  test('rotate-signing-key: every running server signs with the new key at once; tokens the old one signed still verify', async () => {
    const { config } = await registerApplication();
    const { client: browser } = await signedInClient(server);
    const before = await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid' });
    const oldKid = decodeProtectedHeader(before.tokens.id_token!).kid;
    const rotated = await runCli(['rotate-signing-key'], { DATABASE_URL: server.databaseUrl });
    expect(rotated.code, rotated.output).toBe(0);
    const newKid = /New signing key ([\w-]+)/.exec(rotated.output)![1]!;
    await expect.poll(async () => (await (await fetch(`${server.url}/oidc/jwks`)).json()).keys.map((k: { kid: string }) => k.kid), { timeout: 3000 }).toEqual([newKid, oldKid]);
    const after = await signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid' });
    expect(decodeProtectedHeader(after.tokens.id_token!).kid).toBe(newKid);
    const keys = createRemoteJWKSet(new URL(`${server.url}/oidc/jwks`));
    for (const { tokens } of [before, after]) await jwtVerify(tokens.id_token!, keys, { issuer: `${server.url}/oidc` });
    // Logout tokens are signed with the new key too.
    const { client: leaving, user } = await signedInClient(server);
    await signInThroughRoster(server, leaving, config, redirectUri, { scope: 'openid' });
    expect((await leaving.post('/api/v1/auth/logout')).status).toBe(204);
    await expect.poll(() => receiver.received.find((r) => r.claims.sub === user.id)?.kid, { timeout: 2000 }).toBe(newKid);
  });

  test('signing a session, or a person, out of one application: the rest goes on', async () => {
    const wiki = await registerApplication();
    const tracker = await registerApplication();
    const { client: browser, user } = await signedInClient(server);
    const jar = new Map<string, string>();
    const wikiTokens = (await signInThroughRoster(server, browser, wiki.config, redirectUri, { jar })).tokens;
    const trackerTokens = (await signInThroughRoster(server, browser, tracker.config, redirectUri, { jar })).tokens;
    const [session] = (await browser.get('/api/v1/sessions')).body.items;
    expect(session.applications.map((a: { id: string }) => a.id).sort()).toEqual([wiki.application.id, tracker.application.id].sort());

    // Someone else cannot; a moderator cannot sign a person out of an application.
    const { client: stranger } = await signedInClient(server);
    expect((await stranger.delete(`/api/v1/sessions/${session.id}/applications/${wiki.application.id}`)).status).toBe(404);
    const { client: moderator } = await signedInClient(server, { role: 'moderator' });
    expect((await moderator.delete(`/api/v1/users/${user.id}/applications/${wiki.application.id}`)).status).toBe(403);
    expect((await browser.delete(`/api/v1/sessions/${session.id}/applications/not-an-id`)).status).toBe(404);
    expect((await browser.delete(`/api/v1/sessions/${session.id}/applications/00000000-0000-4000-8000-000000000000`)).status).toBe(404);

    // The person signs their own session out of the wiki: the tracker and Roster go on.
    const before = receiver.received.length;
    expect((await browser.delete(`/api/v1/sessions/${session.id}/applications/${wiki.application.id}`)).status).toBe(204);
    await expect.poll(() => receiver.received.slice(before).map((r) => r.claims.aud), { timeout: 2000 }).toEqual([wiki.application.client_id]);
    await expect(client.refreshTokenGrant(wiki.config, wikiTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await client.refreshTokenGrant(tracker.config, trackerTokens.refresh_token!)).access_token).toBeTruthy();
    expect((await browser.get('/api/v1/auth/me')).status).toBe(200);
    expect((await browser.get('/api/v1/sessions')).body.items[0].applications).toEqual([{ id: tracker.application.id, name: tracker.application.name }]);

    // An admin signs the person out of the tracker everywhere.
    expect((await admin.delete(`/api/v1/users/${user.id}/applications/${tracker.application.id}`)).status).toBe(204);
    await expect(client.refreshTokenGrant(tracker.config, trackerTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await admin.get(`/api/v1/users/${user.id}/applications`)).body.items).toEqual([]);
    const events = await server.sql`SELECT data FROM events WHERE action = 'application.signed_out' AND data->>'user_id' = ${user.id} ORDER BY id`;
    expect(events.map((e) => e.data.session_id)).toEqual([session.id, null]);
  });

  test('an application may introspect and revoke only its own tokens', async () => {
    const mine = await registerApplication();
    const theirs = await registerApplication();
    const { client: browser } = await signedInClient(server);
    const { tokens } = await signInThroughRoster(server, browser, mine.config, redirectUri, { scope: 'openid' });
    expect(await client.tokenIntrospection(theirs.config, tokens.access_token)).toMatchObject({ active: false });
    await client.tokenRevocation(theirs.config, tokens.access_token).catch(() => undefined);
    expect(await client.tokenIntrospection(mine.config, tokens.access_token)).toMatchObject({ active: true });
  });

  test('the client secret is shown once; a rotated one replaces it at once', async () => {
    const { application, config } = await registerApplication();
    expect(JSON.stringify((await admin.get('/api/v1/applications')).body)).not.toContain('client_secret');
    const rotated = await admin.post(`/api/v1/applications/${application.id}/secret`);
    expect(rotated.status).toBe(200);
    const { client: browser } = await signedInClient(server);
    await expect(signInThroughRoster(server, browser, config, redirectUri, { scope: 'openid' })).rejects.toThrow();
    const fresh = await relyingParty(server, application.client_id, rotated.body.client_secret);
    await signInThroughRoster(server, browser, fresh, redirectUri, { scope: 'openid' });
  });
});
