import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { relyingParty, signInThroughRoster } from '../helpers/relying-party.ts';
import { apiRoutes, eventActions, SIGN_OUT_EVERYONE_PHRASE } from '@roster/shared';
import { toAuditEvent, type EventRow } from '../../server/src/services/events.ts';
import { sha256Hex } from '../../server/src/auth/tokens.ts';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { mailServer } from '../helpers/mail.ts';
import { useTestServer } from '../helpers/server.ts';
import { enrolTotp } from '../helpers/totp.ts';

// A real SMTP server that refuses mail to refused.example, for `mail.failed`; started first, so
// the server starts with its address (hooks run in the order they are registered).
let smtp: Awaited<ReturnType<typeof mailServer>> | undefined;
const env: Record<string, string> = {};
beforeAll(async () => {
  smtp = await mailServer();
  env.SMTP_URL = smtp.url;
});
afterAll(async () => {
  await smtp?.close();
});
const server = useTestServer({ env });

describe('audit log', () => {
  test('newest first, filterable by actor, target and action, paged with a cursor', async () => {
    const { client: admin, user: adminUser } = await signedInClient(server, { role: 'admin' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await admin.post('/api/v1/users', { username: `audited${i}`, display_name: `A ${i}`, email: `audited${i}@example.com`, generate_password: true });
      ids.push(created.body.user.id);
    }
    const byActor = await admin.get(`/api/v1/events?actor_id=${adminUser.id}&action=user.created&limit=2`);
    expect(byActor.status).toBe(200);
    expect(byActor.body.items.map((e: any) => e.target_label)).toEqual(['audited4', 'audited3']);
    const page2 = await admin.get(`/api/v1/events?actor_id=${adminUser.id}&action=user.created&limit=2&before=${byActor.body.next_cursor}`);
    expect(page2.body.items.map((e: any) => e.target_label)).toEqual(['audited2', 'audited1']);
    const seqs = [...byActor.body.items, ...page2.body.items].map((e: any) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));

    const byTarget = await admin.get(`/api/v1/events?target_id=${ids[0]}`);
    expect(byTarget.body.items).toHaveLength(1);
    expect(byTarget.body.items[0]).toMatchObject({ action: 'user.created', actor: { id: adminUser.id, label: adminUser.username } });
    expect(byTarget.body.items[0].data.user.password_hash).toBeUndefined();
  });

  test('labels survive deletion of both actor and target', async () => {
    const { client: root } = await signedInClient(server, { role: 'admin' });
    const { client: actor, user: actorUser } = await signedInClient(server, { role: 'admin', username: 'temp-admin' });
    const target = (await actor.post('/api/v1/users', { username: 'temp-target', display_name: 'T', email: 'temp-target@example.com', generate_password: true })).body.user;
    await root.delete(`/api/v1/users/${target.id}`);
    await root.delete(`/api/v1/users/${actorUser.id}`);
    const events = (await root.get(`/api/v1/events?actor_id=${actorUser.id}&action=user.created`)).body.items;
    expect(events[0]).toMatchObject({ actor: { label: 'temp-admin' }, target_label: 'temp-target' });
  });

  test('every action is recorded with the payload its schema in shared/src/events.ts describes', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const created = (await admin.post('/api/v1/users', { username: 'every-action', display_name: 'E', email: 'every-action@example.com', password: 'a long passphrase' })).body.user;
    await admin.patch(`/api/v1/users/${created.id}`, { version: created.version, role: 'moderator' });
    await admin.put(`/api/v1/users/${created.id}/password`, { password: 'another long passphrase', revoke_sessions: false });
    const imported = await admin.post('/api/v1/users/import', { rows: [{ username: 'every-import', email: 'every-import@example.com' }] });
    expect(imported.body.counts.created).toBe(1);
    await new ApiClient(server).post('/api/v1/auth/login', { login: 'every-action', password: 'wrong' });
    const { client: signedIn } = await signedInClient(server);
    await signedIn.post('/api/v1/auth/logout');
    await admin.post('/api/v1/auth/reauthenticate', { password: 'correct horse battery' });
    const { key, api_key } = (await admin.post('/api/v1/api-keys', { name: 'system', system: true })).body;
    const host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
    const owner = await createTestUser(server);
    expect((await host.post('/api/v1/usage', { user_id: owner.id, meter: 'tokens', amount: 5, source: 'gpt' })).status).toBe(201);
    const project = (await admin.post('/api/v1/projects', { name: 'Audited', owner_id: owner.id })).body.project;
    await admin.post(`/api/v1/projects/${project.id}/members`, { user_id: created.id });
    await admin.patch(`/api/v1/projects/${project.id}`, { name: 'Audited again' });
    await admin.delete(`/api/v1/projects/${project.id}`);
    const redirectUri = 'http://localhost:4999/callback';
    const registered = (await admin.post('/api/v1/applications', { name: 'Audited app', redirect_uris: [redirectUri] })).body;
    const application = (await admin.patch(`/api/v1/applications/${registered.application.id}`, { version: registered.application.version, name: 'Audited app 2' })).body.application;
    const { client_secret } = (await admin.post(`/api/v1/applications/${application.id}/secret`)).body;
    const { client: appUser } = await signedInClient(server);
    await signInThroughRoster(server, appUser, await relyingParty(server, application.client_id, client_secret), redirectUri, { scope: 'openid' });
    const [appSession] = (await appUser.get('/api/v1/sessions')).body.items;
    expect((await appUser.delete(`/api/v1/sessions/${appSession.id}/applications/${application.id}`)).status).toBe(204);
    await admin.delete(`/api/v1/applications/${application.id}`);
    await admin.delete(`/api/v1/api-keys/${api_key.id}`);
    // Two-factor sign-in: on, new recovery codes, a wrong code and a recovery code at sign-in, off, on again, an admin's reset.
    const { client: twoFactor, user: twoFactorUser } = await signedInClient(server);
    const { recoveryCodes } = await enrolTotp(twoFactor);
    expect((await twoFactor.post('/api/v1/me/two-factor/recovery-codes')).status).toBe(200);
    const secondStep = new ApiClient(server);
    await secondStep.post('/api/v1/auth/login', { login: twoFactorUser.username, password: twoFactorUser.password });
    expect((await secondStep.post('/api/v1/auth/second-factor', { code: '000000' })).status).toBe(401);
    const renewed = (await twoFactor.post('/api/v1/me/two-factor/recovery-codes')).body.recovery_codes as string[];
    expect(renewed).not.toEqual(recoveryCodes);
    expect((await secondStep.post('/api/v1/auth/second-factor', { recovery_code: renewed[0] })).status).toBe(200);
    expect((await secondStep.delete('/api/v1/me/two-factor')).status).toBe(204);
    await enrolTotp(secondStep);
    expect((await admin.delete(`/api/v1/users/${twoFactorUser.id}/two-factor`)).status).toBe(200);
    // Invitations and reset links (mailed; here the link's token is set directly, as the mail is not read).
    // refused.example: the test mail server refuses the mail (mail.failed).
    const revoked = (await admin.post('/api/v1/invitations', { username: 'invited-away', display_name: 'I', email: 'invited-away@refused.example' })).body.invitation;
    await expect.poll(async () => (await server.sql`SELECT 1 FROM events WHERE action = 'mail.failed'`).length).toBe(1);
    await admin.post(`/api/v1/invitations/${revoked.id}/resend`);
    await admin.delete(`/api/v1/invitations/${revoked.id}`);
    const invited = (await admin.post('/api/v1/invitations', { username: 'invited-in', display_name: 'J', email: 'invited-in@example.com' })).body.invitation;
    await server.sql`UPDATE invitations SET token_hash = ${sha256Hex('known-invitation-token')} WHERE id = ${invited.id}`;
    expect((await new ApiClient(server).post('/api/v1/auth/invitation/accept', { token: 'known-invitation-token', password: 'a long passphrase' })).status).toBe(201);
    expect((await new ApiClient(server).post('/api/v1/auth/password-reset', { email: owner.email })).status).toBe(204);
    await admin.delete(`/api/v1/users/${created.id}`);
    await admin.post('/api/v1/sessions/revoke-all', { confirm: SIGN_OUT_EVERYONE_PHRASE });

    const rows = await server.sql<EventRow[]>`SELECT * FROM events ORDER BY id`;
    const unreadable = rows.filter((row) => toAuditEvent(row) === null).map((row) => ({ seq: row.id, action: row.action, data: row.data }));
    expect(unreadable).toEqual([]);
    expect(new Set(rows.map((row) => row.action))).toEqual(new Set(eventActions));
  });

  test('bad filters are 400', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    for (const query of ['actor_id=nope', 'before=-1', 'limit=500', 'after=x', 'colour=red']) {
      expect((await admin.get(`/api/v1/events?${query}`)).status, query).toBe(400);
    }
  });
});

describe('OpenAPI', () => {
  test('the document lists every route with its schemas', async () => {
    const response = await new ApiClient(server).get('/api/v1/openapi.json');
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe('3.1.0');
    const create = response.body.paths['/api/v1/users'].post;
    expect(create['x-roster-access']).toBe('users.write');
    const schema = create.requestBody.content['application/json'].schema;
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['username', 'email', 'role', 'password', 'generate_password']));
    expect(schema.additionalProperties).toBe(false);
    const list = response.body.paths['/api/v1/users'].get;
    expect(list.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['q', 'role', 'status', 'sort', 'cursor', 'limit']));
    expect(Object.keys(response.body.paths).length).toBe(new Set(Object.keys(apiRoutes).map((k) => k.split(' ')[1])).size);
  });
});
