import { beforeAll, describe, expect, test } from 'vitest';
import { withRowSecurity } from '../../server/src/services/projects.ts';
import type { RequestOf } from '@roster/shared';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

const server = useTestServer();
let admin: ApiClient;
let moderator: ApiClient;

beforeAll(async () => {
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  ({ client: moderator } = await signedInClient(server, { role: 'moderator' }));
});

async function project(owner: string, fields: Partial<RequestOf<'POST /projects'>['body']> = {}) {
  const response = await moderator.api('POST /projects', { body: { name: `p-${Math.random().toString(36).slice(2, 8)}`, owner_id: owner, ...fields } });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.project;
}

describe('row-level security', () => {
  test('a plain user reads only own and assigned projects, even through a query with no filter', async () => {
    const { client: alice, user: a } = await signedInClient(server);
    const b = await createTestUser(server);
    const own = await project(a.id);
    const assigned = await project(b.id, { member_ids: [a.id] });
    const foreign = await project(b.id, { name: 'secret plans' });

    // The rows exist: the table owner (no RLS) sees all three.
    expect((await server.sql`SELECT id FROM projects WHERE id IN ${server.sql([own.id, assigned.id, foreign.id])}`).length).toBe(3);

    // The same unfiltered query, run as Roster runs it for alice, sees only hers.
    const visible = await withRowSecurity(server.sql, { id: a.id, role: 'user' }, (tx) => tx`SELECT id, name FROM projects`);
    expect(visible.map((r) => r.id).sort()).toEqual([own.id, assigned.id].sort());
    const counted = await withRowSecurity(server.sql, { id: a.id, role: 'user' }, (tx) => tx`SELECT count(*)::int AS n FROM projects WHERE name = 'secret plans'`);
    expect(counted[0]!.n).toBe(0);
    // Writes are refused by the policies too: nothing matches.
    const updated = await withRowSecurity(server.sql, { id: a.id, role: 'user' }, (tx) => tx`UPDATE projects SET name = 'mine now' RETURNING id`);
    expect(updated).toHaveLength(0);
    // And members of a foreign project stay hidden.
    const members = await withRowSecurity(server.sql, { id: a.id, role: 'user' }, (tx) => tx`SELECT * FROM project_members WHERE project_id = ${foreign.id}`);
    expect(members).toHaveLength(0);

    // Through the API the same holds.
    const listed = await alice.ok('GET /projects');
    expect(listed.items.map((p) => p.id).sort()).toEqual([own.id, assigned.id].sort());
    expect((await alice.api('GET /projects/:id', { params: { id: foreign.id } })).status).toBe(404);
    expect((await alice.api('PATCH /projects/:id', { params: { id: own.id }, body: { name: 'x' } })).status).toBe(403);
  });

  test('staff see every project', async () => {
    const b = await createTestUser(server);
    const theirs = await project(b.id);
    for (const client of [admin, moderator]) {
      const listed = await client.ok('GET /projects');
      expect(listed.items.map((p) => p.id)).toContain(theirs.id);
    }
  });
});

describe('projects API', () => {
  test('create, rename, set size, assign and remove members, delete; each an audit event', async () => {
    const owner = await createTestUser(server);
    const member = await createTestUser(server);
    const created = await project(owner.id, { name: 'Recordings', item_count: 3, size_bytes: 1024 });
    expect(created).toMatchObject({ name: 'Recordings', owner: { id: owner.id }, item_count: 3, size_bytes: 1024, members: [], version: 1 });
    const params = { id: created.id };
    const renamed = await moderator.ok('PATCH /projects/:id', { params, body: { name: 'Voice recordings', size_bytes: 5 * 1024 ** 3, version: 1 } });
    expect(renamed.project).toMatchObject({ name: 'Voice recordings', size_bytes: 5 * 1024 ** 3, version: 2 });
    const stale = await moderator.api('PATCH /projects/:id', { params, body: { name: 'Again', version: 1 } });
    expect(stale.status).toBe(409);
    expect(stale.error?.code).toBe('version_conflict');
    expect(stale.current).toMatchObject({ name: 'Voice recordings' });
    const added = await moderator.ok('POST /projects/:id/members', { params, body: { user_id: member.id } });
    expect(added.project.members.map((m) => m.id)).toEqual([member.id]);
    const removed = await moderator.ok('DELETE /projects/:id/members/:userId', { params: { id: created.id, userId: member.id } });
    expect(removed.project.members).toEqual([]);
    expect((await moderator.api('DELETE /projects/:id', { params })).status).toBe(204);
    expect((await admin.api('GET /projects/:id', { params })).status).toBe(404);
    const actions = await server.sql`SELECT action FROM events WHERE target_id = ${created.id} ORDER BY id`;
    expect(actions.map((e) => e.action)).toEqual(['project.created', 'project.updated', 'project.updated', 'project.updated', 'project.deleted']);
  });

  test('bad input: 400 with the field, nothing written', async () => {
    const owner = await createTestUser(server);
    const { n: before } = (await server.sql`SELECT count(*)::int AS n FROM projects`)[0]!;
    for (const [body, field] of [
      [{ owner_id: owner.id }, 'name'],
      [{ name: 'x', owner_id: 'nope' }, 'owner_id'],
      [{ name: 'x', owner_id: '00000000-0000-0000-0000-000000000000' }, 'owner_id'],
      [{ name: 'x', owner_id: owner.id, size_bytes: -1 }, 'size_bytes'],
      [{ name: 'x', owner_id: owner.id, item_count: 1.5 }, 'item_count'],
      [{ name: 'x'.repeat(101), owner_id: owner.id }, 'name'],
      [{ name: 'x', owner_id: owner.id, member_ids: ['00000000-0000-0000-0000-000000000000'] }, 'member_ids'],
      [{ name: 'x', owner_id: owner.id, id: 'mine' }, 'id'],
    ] as const) {
      const response = await moderator.post('/api/v1/projects', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.fields).toHaveProperty(field);
    }
    const { n: after } = (await server.sql`SELECT count(*)::int AS n FROM projects`)[0]!;
    expect(after).toBe(before);
  });

  test('the users list shows projects, storage and API keys per user', async () => {
    const { client, user } = await signedInClient(server, { username: 'collector' });
    await project(user.id, { size_bytes: 1000 });
    await project(user.id, { size_bytes: 2500 });
    await client.post('/api/v1/api-keys', { name: 'k' });
    const list = await admin.get('/api/v1/users?q=collector');
    expect(list.body.items[0]).toMatchObject({ project_count: 2, storage_bytes: 3500, api_key_count: 1 });
  });

  test('deleting a user deletes their projects, or transfers them', async () => {
    const heir = await createTestUser(server);
    const leaving = await createTestUser(server);
    const kept = await project(leaving.id);
    const noChoice = await admin.delete(`/api/v1/users/${leaving.id}?projects=transfer`);
    expect(noChoice.status).toBe(400);
    expect(noChoice.body.error.fields).toHaveProperty('transfer_to');
    expect((await admin.delete(`/api/v1/users/${leaving.id}?projects=transfer&transfer_to=${heir.id}`)).status).toBe(204);
    expect((await admin.get(`/api/v1/projects/${kept.id}`)).body.project.owner.id).toBe(heir.id);

    const gone = await createTestUser(server);
    const dropped = await project(gone.id);
    expect((await admin.delete(`/api/v1/users/${gone.id}`)).status).toBe(204);
    expect((await admin.get(`/api/v1/projects/${dropped.id}`)).status).toBe(404);
    expect((await admin.delete(`/api/v1/users/${heir.id}?projects=keep`)).status).toBe(400);
  });

  test('deleting a user: each project they were assigned to records project.updated without them, a version on', async () => {
    const owner = await createTestUser(server);
    const leaving = await createTestUser(server);
    const heir = await createTestUser(server);
    const shared = await project(owner.id, { member_ids: [leaving.id, heir.id] });
    const own = await project(leaving.id, { member_ids: [leaving.id] }); // theirs, and assigned to it too
    expect((await admin.delete(`/api/v1/users/${leaving.id}?projects=transfer&transfer_to=${heir.id}`)).status).toBe(204);
    const events = await server.sql<{ action: string; target_id: string; version: number; data: { project: { members: { id: string }[] }; audience: string[]; changes?: string[] } }[]>`
      SELECT action, target_id, version, data FROM events WHERE target_id IN (${shared.id}, ${own.id}) AND action <> 'project.created' ORDER BY id`;
    expect(events.map((e) => [e.target_id, e.action, e.version, e.data.changes])).toEqual([
      [shared.id, 'project.updated', shared.version + 1, ['members']],
      [own.id, 'project.updated', own.version + 1, ['owner_id']], // one event: the hand-over, without them
    ]);
    for (const event of events) expect(event.data.project.members.map((m) => m.id)).not.toContain(leaving.id);
    expect(events[0]!.data.audience.sort()).toEqual([owner.id, heir.id, leaving.id].sort());
    expect((await admin.get(`/api/v1/projects/${shared.id}`)).body.project).toMatchObject({ version: shared.version + 1, members: [{ id: heir.id }] });
  });
});

describe('live', () => {
  test('owners and members get their projects\' events; others do not', async () => {
    const { LiveClient } = await import('../helpers/clients.ts');
    const { client: ownerClient, user: owner } = await signedInClient(server);
    const { client: strangerClient } = await signedInClient(server);
    const ownerLive = await LiveClient.connect(server, ownerClient.cookie);
    const strangerLive = await LiveClient.connect(server, strangerClient.cookie);
    const mine = await project(owner.id, { name: 'owned live' });
    await ownerLive.event((e) => e.action === 'project.created' && e.target_id === mine.id, 'own project event');
    const other = await project((await createTestUser(server)).id, { name: 'not theirs' });
    await moderator.post(`/api/v1/projects/${mine.id}/members`, { user_id: owner.id });
    await ownerLive.until(() => ownerLive.events.filter((e) => e.target_id === mine.id).length >= 2, 'membership event');
    expect(ownerLive.events.some((e) => e.target_id === other.id)).toBe(false);
    expect(strangerLive.events.some((e) => e.target_type === 'project')).toBe(false);
    ownerLive.close();
    strangerLive.close();
  });
});
