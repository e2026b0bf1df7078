import { beforeAll, describe, expect, test } from 'vitest';
import type { EventList, ProjectList, SessionList, UserList, UserStats } from '@roster/shared';
import { ApiClient, createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

// Guarantee: a page of a live list (users, sessions, projects, the audit log) and the stats cards' counts reflect exactly the events up to its `seq`,
// no fewer and no more, so the console applies to it the later events and drops the earlier ones
// (web/src/lib/keyset-list.svelte.ts). Pages are read while other clients write, many times over,
// and each is checked against the event log afterwards.

const server = useTestServer({ env: { LOGIN_MAX_FAILURES: '100000', LOGIN_MAX_FAILURES_PER_IP: '100000' } });
let admin: ApiClient;
beforeAll(async () => {
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
});

const PAGES = 60;

/** What the events up to `seq` leave: the targets created and not deleted since. */
async function expectedAt(created: string, deleted: string, label: string) {
  const events = await server.sql<{ id: string; action: string; target_id: string }[]>`
    SELECT id, action, target_id FROM events
    WHERE action IN (${created}, ${deleted}) AND target_label LIKE ${`${label}%`} ORDER BY id`;
  return (seq: number) => {
    const alive = new Set<string>();
    for (const event of events) {
      if (Number(event.id) > seq) break;
      if (event.action === created) alive.add(event.target_id);
      else alive.delete(event.target_id);
    }
    return [...alive].sort();
  };
}

/** Runs `write` and reads `PAGES` pages with `read` at the same time, a few at once. */
async function whileWriting<T>(write: () => Promise<void>, read: () => Promise<T>): Promise<T[]> {
  const pages: T[] = [];
  let writing = true;
  const readers = Array.from({ length: 3 }, async () => {
    while (writing || pages.length < PAGES) pages.push(await read());
  });
  await write();
  writing = false;
  await Promise.all(readers);
  return pages;
}

/** Four writers at once create ten users each, labelled `label`, and delete every other one if asked. */
async function createAndDeleteUsers(label: string, { deleteEveryOther }: { deleteEveryOther: boolean }) {
  await Promise.all(
    Array.from({ length: 4 }, async (_, writer) => {
      for (let n = 0; n < 10; n++) {
        const username = `${label}${writer}-${n}`;
        const created = await admin.api('POST /users', { body: { username, display_name: username, email: `${username}@example.com`, generate_password: true } });
        expect(created.status).toBe(201);
        if (deleteEveryOther && n % 2 === 1 && 'user' in created.body) expect((await admin.delete(`/api/v1/users/${created.body.user.id}`)).status).toBe(204);
      }
    }),
  );
}

describe('a page of a live list and the event it is current to', () => {
  test(`users: ${PAGES}+ pages read while users are created and deleted hold exactly the users their seq says`, { timeout: 120_000 }, async () => {
    const label = 'seq-user-';
    const pages = await whileWriting(
      () => createAndDeleteUsers(label, { deleteEveryOther: true }),
      async () => (await admin.get<UserList>(`/api/v1/users?q=${label}&limit=200`)).body,
    );
    const expected = await expectedAt('user.created', 'user.deleted', label);
    const wrong = pages.filter((page) => {
      const want = expected(page.seq);
      return JSON.stringify(page.items.map((u) => u.id).sort()) !== JSON.stringify(want) || page.total !== want.length;
    });
    expect(wrong.map((page) => ({ seq: page.seq, rows: page.items.length, total: page.total, want: expected(page.seq).length }))).toEqual([]);
    // The reads did overlap the writes: pages at different points of the log.
    expect(new Set(pages.map((page) => page.seq)).size).toBeGreaterThan(5);
  });

  test(`sessions: ${PAGES}+ pages read while people sign in and are signed out hold exactly the sessions their seq says`, { timeout: 120_000 }, async () => {
    const label = 'seq-session-';
    const people = await Promise.all(Array.from({ length: 4 }, (_, n) => createTestUser(server, { username: `${label}${n}` })));
    const pages = await whileWriting(
      async () => {
        await Promise.all(
          people.map(async (person) => {
            for (let n = 0; n < 10; n++) {
              const client = new ApiClient(server);
              await client.signIn(person.username, person.password);
              const [session] = await server.sql<{ id: string }[]>`SELECT id FROM sessions WHERE user_id = ${person.id} ORDER BY created_at DESC LIMIT 1`;
              if (n % 2 === 1) expect((await admin.delete(`/api/v1/sessions/${session!.id}`)).status).toBe(204);
            }
          }),
        );
      },
      async () => (await admin.get<SessionList>(`/api/v1/sessions?q=${label}&limit=100`)).body,
    );
    const expected = await expectedAt('session.created', 'session.revoked', label);
    const wrong = pages.filter((page) => JSON.stringify(page.items.map((s) => s.id).sort()) !== JSON.stringify(expected(page.seq)));
    expect(wrong.map((page) => ({ seq: page.seq, rows: page.items.length, want: expected(page.seq).length }))).toEqual([]);
    expect(new Set(pages.map((page) => page.seq)).size).toBeGreaterThan(5);
  });

  // Read by their owner, a plain user: under row-level security, as a restricted database role.
  test(`projects: ${PAGES}+ pages a plain user reads while projects are created and deleted hold exactly the projects their seq says`, { timeout: 120_000 }, async () => {
    const label = 'seq-project-';
    const { client: owner, user } = await signedInClient(server);
    const pages = await whileWriting(
      async () => {
        await Promise.all(
          Array.from({ length: 4 }, async (_, writer) => {
            for (let n = 0; n < 10; n++) {
              const created = await admin.api('POST /projects', { body: { name: `${label}${writer}-${n}`, owner_id: user.id } });
              expect(created.status).toBe(201);
              if (n % 2 === 1 && 'project' in created.body) expect((await admin.delete(`/api/v1/projects/${created.body.project.id}`)).status).toBe(204);
            }
          }),
        );
      },
      async () => (await owner.get<ProjectList>('/api/v1/projects')).body,
    );
    const expected = await expectedAt('project.created', 'project.deleted', label);
    const wrong = pages.filter((page) => JSON.stringify(page.items.map((p) => p.id).sort()) !== JSON.stringify(expected(page.seq)));
    expect(wrong.map((page) => ({ seq: page.seq, rows: page.items.length, want: expected(page.seq).length }))).toEqual([]);
    expect(new Set(pages.map((page) => page.seq)).size).toBeGreaterThan(5);
  });
  // The stats cards: read by a page and pushed to staff, both carrying the event they reflect.
  test(`stats: ${PAGES}+ reads and every push while users are created and deleted count exactly the users their seq says`, { timeout: 120_000 }, async () => {
    const label = 'seq-stats-';
    const start = (await admin.get<UserStats>('/api/v1/users/stats')).body;
    const watcher = await LiveClient.connect(server, admin.cookie);
    const reads = await whileWriting(
      () => createAndDeleteUsers(label, { deleteEveryOther: true }),
      async () => (await admin.get<UserStats>('/api/v1/users/stats')).body,
    );
    const events = await server.sql<{ id: string; action: string }[]>`
      SELECT id, action FROM events WHERE action IN ('user.created', 'user.deleted') AND id > ${start.seq} ORDER BY id`;
    const last = Number(events.at(-1)!.id);
    await watcher.until(() => watcher.stats.some((stats) => stats.seq >= last), 'the push after the last change');
    watcher.socket.close();
    const totalAt = (seq: number) =>
      start.total + events.filter((event) => Number(event.id) <= seq).reduce((sum, event) => sum + (event.action === 'user.created' ? 1 : -1), 0);
    const wrong = [...reads, ...watcher.stats].filter((stats) => stats.total !== totalAt(stats.seq));
    expect(wrong.map((stats) => ({ seq: stats.seq, total: stats.total, want: totalAt(stats.seq) }))).toEqual([]);
    expect(new Set(reads.map((stats) => stats.seq)).size).toBeGreaterThan(5);
    // One node sends one push at a time, so its pushes never go back.
    const pushed = watcher.stats.map((stats) => stats.seq);
    expect(pushed).toEqual([...pushed].sort((a, b) => a - b));
  });
  // The audit log: a filtered page's entries do not tell where the log stands; its `seq` does.
  test(`audit log: ${PAGES}+ filtered pages read while users are created hold exactly the entries up to their seq`, { timeout: 120_000 }, async () => {
    const label = 'seq-audit-';
    const pages = await whileWriting(
      () => createAndDeleteUsers(label, { deleteEveryOther: false }),
      async () => (await admin.get<EventList>('/api/v1/events?action=user.created&limit=100')).body,
    );
    const created = (await server.sql<{ id: string }[]>`SELECT id FROM events WHERE action = 'user.created' ORDER BY id DESC`).map((row) => Number(row.id));
    const wrong = pages.filter((page) => {
      const want = created.filter((id) => id <= page.seq).slice(0, 100);
      return JSON.stringify(page.items.map((entry) => entry.seq)) !== JSON.stringify(want);
    });
    expect(wrong.map((page) => ({ seq: page.seq, entries: page.items.length }))).toEqual([]);
    expect(new Set(pages.map((page) => page.seq)).size).toBeGreaterThan(5);
  });
});
