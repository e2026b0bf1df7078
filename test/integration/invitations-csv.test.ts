import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { InvitationImportCells, InvitationImportResult } from '@roster/shared';
import { ApiClient, createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { linkToken, mailServer } from '../helpers/mail.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Bulk invitations from a CSV file: POST /invitations/import, a chunk at a time (docs/csv.md).

let server: TestServer;
let smtp: Awaited<ReturnType<typeof mailServer>>;
let admin: ApiClient;

beforeAll(async () => {
  smtp = await mailServer();
  server = await startTestServer({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'Roster <roster@example.test>' } });
  admin = (await signedInClient(server, { role: 'admin', username: 'bulk-chief' })).client;
});
afterAll(async () => {
  await server?.close();
  await smtp?.close();
});

const unique = () => Math.random().toString(36).slice(2, 8);

async function invite(rows: InvitationImportCells[], options: { dry_run?: boolean } = {}, client = admin) {
  const response = await client.post<InvitationImportResult>('/api/v1/invitations/import', { rows, ...options });
  expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
  return response.body;
}

async function counts() {
  const [row] = await server.sql<{ users: number; invitations: number; events: number }[]>`
    SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM invitations) AS invitations, (SELECT count(*)::int FROM events) AS events`;
  return row!;
}

describe('bulk invitations: checking rows', () => {
  test('every row gets a result: new, bad fields, repeated in the chunk, an account, a pending invitation, an address in use; a dry run writes nothing', async () => {
    const existing = await createTestUser(server);
    const s = unique();
    const pending = { username: `pending-${s}`, display_name: 'Pending', email: `pending-${s}@example.com` };
    expect((await admin.post('/api/v1/invitations', pending)).status).toBe(201);
    await smtp.next(pending.email);
    const rows: InvitationImportCells[] = [
      { username: `new-${s}`, email: `new-${s}@example.com`, display_name: 'New Person', role: 'Moderator' },
      { username: 'x', email: 'not an address', role: 'boss' },
      { username: `NEW-${s}`, email: `other-${s}@example.com` },
      { username: existing.username, email: `fresh-${s}@example.com` },
      { username: pending.username, email: `pend2-${s}@example.com` },
      { username: `taken-${s}`, email: existing.email.toUpperCase() },
      { username: `twice-${s}`, email: pending.email },
    ];
    const before = await counts();
    const result = await invite(rows, { dry_run: true });
    expect(await counts()).toEqual(before);
    expect(result.dry_run).toBe(true);
    expect(result.results.map((r) => r.outcome)).toEqual(['invited', 'failed', 'failed', 'skipped', 'skipped', 'failed', 'failed']);
    expect(Object.keys(result.results[1]!.errors!).sort()).toEqual(['email', 'role', 'username']);
    expect(result.results[2]!.errors).toEqual({ username: 'Same as row 1' });
    expect(result.results[3]!.user_id).toBe(existing.id);
    expect(result.results[4]!.invitation_id).toBeTruthy();
    expect(result.results[5]!.errors).toEqual({ email: 'Already in use by another user' });
    expect(result.results[6]!.errors).toEqual({ email: `Already invited as ${pending.username}` });
    expect(result.counts).toEqual({ invited: 1, skipped: 2, failed: 4 });

    // The real run gives the same answers and invites the one new row.
    const real = await invite(rows);
    expect(real.results.map((r) => r.outcome)).toEqual(result.results.map((r) => r.outcome));
    const after = await counts();
    expect(after.users).toBe(before.users);
    expect(after.invitations).toBe(before.invitations + 1);
    const [made] = await server.sql`SELECT username, display_name, role FROM invitations WHERE id = ${real.results[0]!.invitation_id!}`;
    expect(made).toEqual({ username: `new-${s}`, display_name: 'New Person', role: 'moderator' });
    await smtp.next(`new-${s}@example.com`);
  });

  test('a password or status column is refused as a whole, as are empty and oversized chunks', async () => {
    const s = unique();
    const before = await counts();
    const withPassword = await admin.post('/api/v1/invitations/import', { rows: [{ username: `pw-${s}`, email: `pw-${s}@example.com`, password: 'a long passphrase' }] });
    expect(withPassword.status).toBe(400);
    expect(withPassword.body.error.code).toBe('validation_failed');
    const withStatus = await admin.post('/api/v1/invitations/import', { rows: [{ username: `st-${s}`, email: `st-${s}@example.com`, status: 'inactive' }] });
    expect(withStatus.status).toBe(400);
    expect((await admin.post('/api/v1/invitations/import', { rows: [] })).status).toBe(400);
    const many = Array.from({ length: 501 }, (_, i) => ({ username: `m${i}-${s}`, email: `m${i}-${s}@example.com` }));
    expect((await admin.post('/api/v1/invitations/import', { rows: many })).status).toBe(400);
    expect(await counts()).toEqual(before);
  });

  test('moderators and users cannot invite in bulk', async () => {
    const s = unique();
    for (const role of ['moderator', 'user'] as const) {
      const { client } = await signedInClient(server, { role });
      const response = await client.post('/api/v1/invitations/import', { rows: [{ username: `no-${role}-${s}`, email: `no-${role}-${s}@example.com` }] });
      expect(response.status).toBe(403);
    }
    expect((await new ApiClient(server).post('/api/v1/invitations/import', { rows: [{ username: `anon-${s}`, email: `anon-${s}@example.com` }] })).status).toBe(401);
  });
});

describe('bulk invitations: sending', () => {
  test('each invited row gets its own mail after the commit and an invitation.created event live; the link works', async () => {
    const watcher = await LiveClient.connect(server, admin.cookie);
    const s = unique();
    const rows = Array.from({ length: 3 }, (_, i) => ({ username: `bulk${i}-${s}`, email: `bulk${i}-${s}@example.com`, display_name: `Bulk ${i}` }));
    const result = await invite(rows);
    expect(result.counts).toEqual({ invited: 3, skipped: 0, failed: 0 });
    for (const row of rows) {
      const mail = await smtp.next(row.email);
      expect(mail.subject).toBe('You are invited to Roster');
      expect(mail.text).toContain(`${server.origin}/invitation#token=`);
      await watcher.event((e) => e.action === 'invitation.created' && e.target_label === row.username);
    }
    const [audit] = await server.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM events WHERE action = 'invitation.created' AND target_label = ANY(${rows.map((r) => r.username)})`;
    expect(audit!.n).toBe(3);
    watcher.close();

    // The first mail's link creates the account with the chosen password.
    const again = await invite([{ username: `link-${s}`, email: `link-${s}@example.com` }]);
    expect(again.counts.invited).toBe(1);
    const token = linkToken(await smtp.next(`link-${s}@example.com`));
    const accepted = await new ApiClient(server).post('/api/v1/auth/invitation/accept', { token, password: 'a long and fine password' });
    expect(accepted.status).toBe(201);
    expect(accepted.body.user).toMatchObject({ username: `link-${s}`, role: 'user', display_name: `link-${s}` });
  });

  test('race: the same chunk sent twice at once invites each username once, and mails each person once (30 runs)', async () => {
    for (let run = 0; run < 30; run++) {
      const s = unique();
      const rows = Array.from({ length: 5 }, (_, i) => ({ username: `race${i}-${s}`, email: `race${i}-${s}@example.com` }));
      const [a, b] = await Promise.all([invite(rows), invite(rows)]);
      for (let i = 0; i < rows.length; i++) {
        const outcomes = [a.results[i]!.outcome, b.results[i]!.outcome];
        expect(outcomes.filter((o) => o === 'invited')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'failed' || o === 'skipped')).toHaveLength(1);
      }
      const [found] = await server.sql<{ n: number; events: number }[]>`
        SELECT (SELECT count(*)::int FROM invitations WHERE username::text LIKE ${`race%-${s}`}) AS n,
               (SELECT count(*)::int FROM events WHERE action = 'invitation.created' AND target_label LIKE ${`race%-${s}`}) AS events`;
      expect(found).toEqual({ n: 5, events: 5 });
      for (const row of rows) await smtp.next(row.email);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(smtp.received.filter((mail) => mail.to.includes('race'))).toEqual([]);
  });
});
