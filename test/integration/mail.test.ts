// Over 300 lines for a reason: every mail Roster sends (invitations, reset links, notices) against one real SMTP server started once for the file.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../server/src/config.ts';
import { createLogger } from '../../server/src/logger.ts';
import { ApiClient, createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { linkToken, mailServer } from '../helpers/mail.ts';
import { enrolTotp } from '../helpers/totp.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let smtp: Awaited<ReturnType<typeof mailServer>>;
let admin: ApiClient;

beforeAll(async () => {
  smtp = await mailServer();
  server = await startTestServer({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'Roster <roster@example.test>', PASSWORD_RESET_MAX_PER_ADDRESS: '3', LOGIN_MAX_FAILURES_PER_IP: '1000' } });
  admin = (await signedInClient(server, { role: 'admin' })).client;
});
afterAll(async () => {
  await server?.close();
  await smtp?.close();
});

let n = 0;
const invitee = () => {
  n += 1;
  const username = `invitee${n}-${Math.random().toString(36).slice(2, 7)}`;
  return { username, display_name: `Invitee ${n}`, email: `${username}@example.com` };
};

describe('mail configuration', () => {
  test('SMTP_URL must be smtp:// or smtps://, MAIL_FROM an address; the start refuses anything else', () => {
    expect(loadConfig({ SMTP_URL: 'smtps://user:secret@mail.example.com:465' }).SMTP_URL).toBe('smtps://user:secret@mail.example.com:465');
    expect(() => loadConfig({ SMTP_URL: 'http://mail.example.com' })).toThrow(/SMTP_URL/);
    expect(() => loadConfig({ MAIL_FROM: 'roster' })).toThrow(/MAIL_FROM/);
    expect(() => loadConfig({ PASSWORD_RESET_MINUTES: '1' })).toThrow(/PASSWORD_RESET_MINUTES/);
  });

  test('GET /setup tells the console whether mail is configured', async () => {
    expect((await new ApiClient(server).get('/api/v1/setup')).body.mail_configured).toBe(true);
    const unconfigured = await startTestServer();
    try {
      expect((await new ApiClient(unconfigured).get('/api/v1/setup')).body.mail_configured).toBe(false);
    } finally {
      await unconfigured.close();
    }
  });

  test('without SMTP_URL a mail is written to the server log, link included, so it can still be followed', async () => {
    const lines: string[] = [];
    const logged = await startTestServer({ log: createLogger('info', { write: (line: string) => void lines.push(line) }) });
    try {
      const { client } = await signedInClient(logged, { role: 'admin' });
      const person = invitee();
      expect((await client.post('/api/v1/invitations', person)).status).toBe(201);
      await expect.poll(() => lines.find((line) => line.includes(person.email))).toBeTruthy();
      const entry = JSON.parse(lines.find((line) => line.includes(person.email))!);
      expect(entry).toMatchObject({ level: 40, msg: expect.stringContaining('mail is not configured'), mail: { to: person.email } });
      const token = entry.text.match(/#token=([\w-]+)/)[1];
      expect((await new ApiClient(logged).post('/api/v1/auth/invitation/lookup', { token })).status).toBe(200);
    } finally {
      await logged.close();
    }
  });
});

describe('delivery failures', () => {
  test('a mail the mail server refuses is in the audit log, live for admins, without failing the request', async () => {
    const watcher = await LiveClient.connect(server, admin.cookie);
    const response = await admin.post('/api/v1/invitations', { username: 'bounced', display_name: 'Bounced', email: 'bounced@refused.example' });
    expect(response.status).toBe(201);
    const failed = await watcher.event((e) => e.action === 'mail.failed' && e.target_label === 'bounced@refused.example');
    expect(failed).toMatchObject({ actor: { id: null, label: 'Roster' }, data: { template: 'invitation', to: 'bounced@refused.example', error: expect.stringContaining('No such mailbox') } });
    watcher.close();
  });
});

describe('invitations', () => {
  test('an admin invites by mail; the link lets the person choose a password, signs them in, and works once', async () => {
    const person = invitee();
    const watcher = await LiveClient.connect(server, admin.cookie);
    const created = await admin.post('/api/v1/invitations', { ...person, role: 'moderator' });
    expect(created.status).toBe(201);
    expect(created.body.invitation).toMatchObject({ ...person, role: 'moderator', invited_by: expect.any(String) });
    const mail = await smtp.next(person.email);
    expect(mail.from).toContain('roster@example.test');
    expect(mail.subject).toBe('You are invited to Roster');
    expect(mail.text).toContain(`${server.origin}/invitation#token=`);
    // Nothing of the token is stored: only its hash.
    const token = linkToken(mail);
    const [row] = await server.sql`SELECT token_hash FROM invitations WHERE id = ${created.body.invitation.id}`;
    expect(row!.token_hash).not.toContain(token);
    // No account until accepted.
    expect(await server.sql`SELECT 1 FROM users WHERE username = ${person.username}`).toHaveLength(0);
    expect((await admin.get('/api/v1/invitations')).body.items.map((i: { id: string }) => i.id)).toContain(created.body.invitation.id);

    const browser = new ApiClient(server);
    const preview = await browser.post('/api/v1/auth/invitation/lookup', { token });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ username: person.username, email: person.email });
    const weak = await browser.post('/api/v1/auth/invitation/accept', { token, password: person.username + '123' });
    expect(weak.status).toBe(400);
    expect(weak.body.error.fields.password).toBeTruthy();
    const accepted = await browser.post('/api/v1/auth/invitation/accept', { token, password: 'a long and fine password' });
    expect(accepted.status).toBe(201);
    expect(accepted.body.user).toMatchObject({ username: person.username, role: 'moderator', status: 'active', password_change_required: false });
    expect((await browser.get('/api/v1/auth/me')).body.user.username).toBe(person.username);
    // Used up: the same link no longer works, and the invitation is gone.
    const again = await new ApiClient(server).post('/api/v1/auth/invitation/accept', { token, password: 'another fine password' });
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('invalid_link');
    expect((await admin.get('/api/v1/invitations')).body.items.map((i: { id: string }) => i.id)).not.toContain(created.body.invitation.id);
    await watcher.event((e) => e.action === 'invitation.accepted' && e.target_id === created.body.invitation.id);
    expect(watcher.events.map((e) => e.action)).toEqual(expect.arrayContaining(['invitation.created', 'user.created', 'invitation.accepted', 'session.created']));
    watcher.close();
  });

  test('a resend replaces the link; a revoked or expired invitation does not work', async () => {
    const person = invitee();
    const { body } = await admin.post('/api/v1/invitations', person);
    const first = linkToken(await smtp.next(person.email));
    const resent = await admin.post(`/api/v1/invitations/${body.invitation.id}/resend`);
    expect(resent.status).toBe(200);
    const second = linkToken(await smtp.next(person.email));
    expect(second).not.toBe(first);
    expect((await new ApiClient(server).post('/api/v1/auth/invitation/lookup', { token: first })).status).toBe(410);
    expect((await new ApiClient(server).post('/api/v1/auth/invitation/lookup', { token: second })).status).toBe(200);

    await server.sql`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = ${body.invitation.id}`;
    expect((await new ApiClient(server).post('/api/v1/auth/invitation/lookup', { token: second })).status).toBe(410);
    // Still listed, so it can be resent.
    expect((await admin.get('/api/v1/invitations')).body.items.some((i: { id: string }) => i.id === body.invitation.id)).toBe(true);

    expect((await admin.delete(`/api/v1/invitations/${body.invitation.id}`)).status).toBe(204);
    expect((await admin.delete(`/api/v1/invitations/${body.invitation.id}`)).status).toBe(404);
    expect((await admin.post(`/api/v1/invitations/${body.invitation.id}/resend`)).status).toBe(404);
    expect((await new ApiClient(server).post('/api/v1/auth/invitation/accept', { token: second, password: 'a long and fine password' })).status).toBe(410);
    const actions = await server.sql`SELECT action FROM events WHERE target_id = ${body.invitation.id} ORDER BY id`;
    expect(actions.map((r) => r.action)).toEqual(['invitation.created', 'invitation.resent', 'invitation.revoked']);
  });

  test('taken usernames and addresses are refused, among users and pending invitations; bad input is 400', async () => {
    const existing = await createTestUser(server);
    const person = invitee();
    expect((await admin.post('/api/v1/invitations', { ...person, username: existing.username })).body.error.code).toBe('username_taken');
    expect((await admin.post('/api/v1/invitations', { ...person, email: existing.email })).body.error.code).toBe('email_taken');
    expect((await admin.post('/api/v1/invitations', person)).status).toBe(201);
    const twice = await admin.post('/api/v1/invitations', { ...person, email: `x${person.email}` });
    expect([twice.status, twice.body.error.code]).toEqual([409, 'username_taken']);
    expect((await admin.post('/api/v1/invitations', { ...invitee(), email: person.email })).body.error.code).toBe('email_taken');
    for (const bad of [{}, { ...invitee(), email: 'not an address' }, { ...invitee(), role: 'owner' }, { ...invitee(), password: 'x' }]) {
      const response = await admin.post('/api/v1/invitations', bad);
      expect(response.status, JSON.stringify(bad)).toBe(400);
    }
    for (const token of ['', 'x'.repeat(201)]) expect((await new ApiClient(server).post('/api/v1/auth/invitation/lookup', { token })).status).toBe(400);
    expect((await new ApiClient(server).post('/api/v1/auth/invitation/lookup', { token: 'made-up' })).status).toBe(410);
  });

  test('two tabs accepting the same link at once: one account, one winner', { timeout: 120_000 }, async () => {
    for (let round = 0; round < 30; round++) {
      const person = invitee();
      await admin.post('/api/v1/invitations', person);
      const token = linkToken(await smtp.next(person.email));
      const results = await Promise.all(
        [0, 1, 2].map(() => new ApiClient(server).post('/api/v1/auth/invitation/accept', { token, password: 'a long and fine password' })),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 410, 410]);
      expect(await server.sql`SELECT 1 FROM users WHERE username = ${person.username}`).toHaveLength(1);
    }
  });
});

describe('password reset', () => {
  test('forgot password: the same answer for any address; the link sets a new password, ends every session and key, and signs in', async () => {
    const user = await createTestUser(server);
    const other = new ApiClient(server);
    await other.signIn(user.username, user.password);
    const key = await other.post('/api/v1/api-keys', { name: 'script' });
    expect(key.status).toBe(201);

    const anonymous = new ApiClient(server);
    const known = await anonymous.post('/api/v1/auth/password-reset', { email: user.email.toUpperCase() });
    const unknown = await anonymous.post('/api/v1/auth/password-reset', { email: 'nobody-here@example.com' });
    expect([known.status, known.body]).toEqual([204, undefined]);
    expect([unknown.status, unknown.body]).toEqual([204, undefined]);
    expect(await smtp.pending('nobody-here@example.com')).toEqual([]);
    const mail = await smtp.next(user.email, 'Reset your Roster password');
    const token = linkToken(mail);
    expect(mail.text).toContain(`${server.origin}/reset-password#token=`);

    // The old password keeps working until the link is followed.
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: user.password })).status).toBe(200);
    const preview = await anonymous.post('/api/v1/auth/password-reset/lookup', { token });
    expect(preview.body).toMatchObject({ username: user.username });
    const browser = new ApiClient(server);
    const done = await browser.post('/api/v1/auth/password-reset/complete', { token, password: 'my brand new password' });
    expect(done.status).toBe(200);
    expect((await browser.get('/api/v1/auth/me')).body.user.id).toBe(user.id);
    expect((await other.get('/api/v1/auth/me')).status).toBe(401);
    const keyed = await fetch(`${server.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${key.body.token}` } });
    expect(keyed.status).toBe(401);
    expect(await server.sql`SELECT 1 FROM sessions WHERE user_id = ${user.id}`).toHaveLength(1);
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: user.password })).status).toBe(401);
    // Used once; the owner is told by mail (ASVS 6.3.7).
    expect((await new ApiClient(server).post('/api/v1/auth/password-reset/complete', { token, password: 'another new password' })).status).toBe(410);
    await smtp.next(user.email, 'Your Roster password was changed');
    const [event] = await server.sql`SELECT data FROM events WHERE action = 'user.password_reset' AND target_id = ${user.id}`;
    expect(event!.data).toMatchObject({ via_link: true, revoke_sessions: true, revoke_credentials: true });
  });

  test('a newer link replaces the older; a link expires; a password or address change by other means voids it', async () => {
    const user = await createTestUser(server);
    const anonymous = new ApiClient(server);
    await anonymous.post('/api/v1/auth/password-reset', { email: user.email });
    const first = linkToken(await smtp.next(user.email, 'Reset your Roster password'));
    await anonymous.post('/api/v1/auth/password-reset', { email: user.email });
    const second = linkToken(await smtp.next(user.email, 'Reset your Roster password'));
    expect((await anonymous.post('/api/v1/auth/password-reset/lookup', { token: first })).status).toBe(410);
    expect((await anonymous.post('/api/v1/auth/password-reset/lookup', { token: second })).status).toBe(200);
    await server.sql`UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = ${user.id}`;
    expect((await anonymous.post('/api/v1/auth/password-reset/lookup', { token: second })).status).toBe(410);

    await admin.post(`/api/v1/users/${user.id}/password-reset`);
    const third = linkToken(await smtp.next(user.email, 'Reset your Roster password'));
    const self = new ApiClient(server);
    await self.signIn(user.username, user.password);
    expect((await self.put('/api/v1/me/password', { current_password: user.password, new_password: 'a changed password here' })).status).toBe(200);
    await smtp.next(user.email, 'Your Roster password was changed');
    expect((await anonymous.post('/api/v1/auth/password-reset/complete', { token: third, password: 'sneaky new password' })).status).toBe(410);

    // A link went to an address: once the account's address changes, it no longer works.
    await admin.post(`/api/v1/users/${user.id}/password-reset`);
    const fourth = linkToken(await smtp.next(user.email, 'Reset your Roster password'));
    const [row] = await server.sql<{ version: number }[]>`SELECT version FROM users WHERE id = ${user.id}`;
    expect((await admin.patch(`/api/v1/users/${user.id}`, { version: row!.version, email: `moved-${user.email}` })).status).toBe(200);
    expect((await anonymous.post('/api/v1/auth/password-reset/lookup', { token: fourth })).status).toBe(410);
  });

  test('requests are throttled per address (existing or not) and the answer does not tell which', async () => {
    const user = await createTestUser(server);
    const statuses = async (email: string) => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++) out.push((await new ApiClient(server).post('/api/v1/auth/password-reset', { email })).status);
      return out;
    };
    expect(await statuses(user.email)).toEqual([204, 204, 204, 429]);
    expect(await statuses(`ghost-${user.username}@example.com`)).toEqual([204, 204, 204, 429]);
    for (const bad of [{}, { email: 'nope' }, { email: user.email, extra: 1 }]) {
      expect((await new ApiClient(server).post('/api/v1/auth/password-reset', bad)).status).toBe(400);
    }
  });

  test('three tabs completing the same reset link at once: one new password, one session, the others refused', { timeout: 120_000 }, async () => {
    for (let round = 0; round < 30; round++) {
      const user = await createTestUser(server);
      await admin.post(`/api/v1/users/${user.id}/password-reset`);
      const token = linkToken(await smtp.next(user.email, 'Reset your Roster password'));
      const passwords = ['first new password', 'second new password', 'third new password'];
      const results = await Promise.all(passwords.map((password) => new ApiClient(server).post('/api/v1/auth/password-reset/complete', { token, password })));
      expect(results.map((r) => r.status).sort()).toEqual([200, 410, 410]);
      const winner = passwords[results.findIndex((r) => r.status === 200)]!;
      expect((await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: winner })).status).toBe(200);
      expect(await server.sql`SELECT 1 FROM password_resets WHERE user_id = ${user.id}`).toHaveLength(0);
    }
  });

  test('per IP too, whatever the addresses', async () => {
    const limited = await startTestServer({ env: { SMTP_URL: smtp.url, PASSWORD_RESET_MAX_PER_IP: '2' } });
    try {
      const client = new ApiClient(limited);
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push((await client.post('/api/v1/auth/password-reset', { email: `many${i}@example.com` })).status);
      expect(out).toEqual([204, 204, 429]);
    } finally {
      await limited.close();
    }
  });

  test('an admin sends a reset link instead of typing a password; an admin-set password is mailed about', async () => {
    const user = await createTestUser(server);
    const watcher = await LiveClient.connect(server, admin.cookie);
    expect((await admin.post(`/api/v1/users/${user.id}/password-reset`)).status).toBe(204);
    const mail = await smtp.next(user.email, 'Reset your Roster password');
    await watcher.event((e) => e.action === 'password_reset.requested' && e.target_id === user.id);
    watcher.close();
    expect((await admin.post('/api/v1/users/00000000-0000-0000-0000-000000000000/password-reset')).status).toBe(404);
    expect((await admin.patch(`/api/v1/users/${user.id}`, { status: 'inactive', version: user.version })).status).toBe(200);
    expect((await admin.post(`/api/v1/users/${user.id}/password-reset`)).status).toBe(400);
    // The inactive account's link no longer works either, nor once the account is active again:
    // deactivating it ended the link for good, as it ends its sessions.
    expect((await new ApiClient(server).post('/api/v1/auth/password-reset/lookup', { token: linkToken(mail) })).status).toBe(410);
    expect((await admin.patch(`/api/v1/users/${user.id}`, { status: 'active', version: user.version + 1 })).status).toBe(200);
    expect((await new ApiClient(server).post('/api/v1/auth/password-reset/lookup', { token: linkToken(mail) })).status).toBe(410);
    const completed = await new ApiClient(server).post('/api/v1/auth/password-reset/complete', { token: linkToken(mail), password: 'a brand new pass phrase' });
    expect(completed.status).toBe(410);

    const other = await createTestUser(server);
    expect((await admin.put(`/api/v1/users/${other.id}/password`, { password: 'temporary password 1', revoke_sessions: true })).status).toBe(200);
    expect((await smtp.next(other.email, 'Your Roster password was changed')).text).toContain('An administrator set a temporary one');
  });
});

describe('new sign-in notice (ASVS 6.3.5)', () => {
  test('a sign-in from a browser the account never used is mailed about; the first sign-in ever and known browsers are not', async () => {
    const user = await createTestUser(server);
    const laptop = new ApiClient(server);
    await laptop.signIn(user.username, user.password);
    await laptop.signIn(user.username, user.password);
    expect(await smtp.pending(user.email)).toEqual([]);
    const stranger = new ApiClient(server, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' } });
    await stranger.signIn(user.email, user.password);
    const mail = await smtp.next(user.email, 'New sign-in to your Roster account');
    expect(mail.text).toContain('Firefox/140.0');
    expect(mail.text).toContain('127.0.0.1');
    await stranger.signIn(user.email, user.password);
    expect(await smtp.pending(user.email)).toEqual([]);
  });
});

describe('account notices (ASVS 6.3.7, 6.3.5)', () => {
  const changed = 'Your Roster account was changed';

  test('6.3.7 a new e-mail address is told to the old one, a new username to the account; a refused change mails nothing', async () => {
    const { client, user } = await signedInClient(server);
    const newEmail = `moved-${user.username}@example.org`;
    const moved = await client.patch('/api/v1/me', { email: newEmail, version: user.version });
    expect(moved.status).toBe(200);
    const notice = await smtp.next(user.email, changed);
    expect(notice.text).toContain(`m***@example.org`);
    expect(notice.text).not.toContain(newEmail);
    expect(await smtp.pending(newEmail)).toEqual([]);

    const renamed = await admin.patch(`/api/v1/users/${user.id}`, { username: `${user.username}-renamed`, version: moved.body.user.version });
    expect(renamed.status).toBe(200);
    expect((await smtp.next(newEmail, changed)).text).toContain(`changed to ${user.username}-renamed`);

    // Rolled back (the address is someone else's): no mail.
    const other = await createTestUser(server);
    expect((await admin.patch(`/api/v1/users/${user.id}`, { email: other.email, version: renamed.body.user.version })).status).toBe(409);
    expect(await smtp.pending(newEmail)).toEqual([]);
    expect(await smtp.pending(other.email)).toEqual([]);
  });

  test('6.3.7 turning two-factor sign-in on, new recovery codes, turning it off and an admin reset are each told to the owner', async () => {
    const { client, user } = await signedInClient(server);
    await enrolTotp(client);
    expect((await smtp.next(user.email, changed)).text).toContain('Two-factor sign-in was turned on');
    expect((await client.post('/api/v1/me/two-factor/recovery-codes')).status).toBe(200);
    expect((await smtp.next(user.email, changed)).text).toContain('New recovery codes were made');
    expect((await client.delete('/api/v1/me/two-factor')).status).toBe(204);
    expect((await smtp.next(user.email, changed)).text).toContain('Two-factor sign-in was turned off');

    const second = await signedInClient(server);
    await enrolTotp(second.client);
    await smtp.next(second.user.email, changed);
    expect((await admin.delete(`/api/v1/users/${second.user.id}/two-factor`)).status).toBe(200);
    expect((await smtp.next(second.user.email, changed)).text).toContain('An administrator removed its two-factor sign-in');
    expect(await smtp.pending(second.user.email)).toEqual([]);
  });

  test('6.3.5 wrong passwords that fill the login limit tell the owner once, however many arrive at once (3 rounds of 30)', async () => {
    const limit = 10; // LOGIN_MAX_FAILURES' default
    for (let round = 0; round < 3; round++) {
      const user = await createTestUser(server);
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: 'not the password at all' })),
      );
      expect(answers.filter((a) => a.status === 401)).toHaveLength(limit);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(30 - limit);
      const mail = await smtp.next(user.email, 'Failed sign-ins to your Roster account');
      expect(mail.text).toContain(`${limit} times within 15 minutes`);
      expect(await smtp.pending(user.email, 'Failed sign-ins to your Roster account', 1000)).toEqual([]);
    }
  });
});
