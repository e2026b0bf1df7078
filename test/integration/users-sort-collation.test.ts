import { beforeAll, describe, expect, test } from 'vitest';
import type { User, UserList } from '@roster/shared';
import { createTestUser, signedInClient, type ApiClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';
import { byName } from '../../web/src/lib/name-order.ts';

// The console places users created or changed live among the loaded rows by comparing usernames
// and emails as JavaScript does (code units, lower case; web/src/lib/user-rows.ts), so the server
// must sort them by the same rule, whatever the database's collation. A linguistic one (ICU or
// glibc en_US, the `postgres` image's default) ignores punctuation and orders case: a row then
// lands where the next page does not look for it, and is lost until a reload.

const server = useTestServer({ icuLocale: 'en-US' });
let admin: ApiClient;
let adminId: string;
const usernames = ['a-cc', 'abb', 'a.bb', 'aaa', 'a_dd', 'ab-z', 'abz', 'a0z'];

beforeAll(async () => {
  ({ client: admin, user: { id: adminId } } = await signedInClient(server, { role: 'admin', username: 'zz-admin', email: 'zz-admin@example.com' }));
  for (const [n, username] of usernames.entries()) {
    // Emails in mixed case, with punctuation where the usernames have it.
    await createTestUser(server, { username, email: `${n % 2 ? username.toUpperCase() : username}@Example.com` });
  }
});

const byCodeUnits = (values: string[]) => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('the users table sorts text as the console does, on a database with an ICU collation', () => {
  test('the database does collate linguistically (else this file tests nothing)', async () => {
    // In code units '-' (2D) comes before '_' (5F); ICU puts the underscore first.
    const [row] = await server.sql<{ linguistic: boolean }[]>`SELECT 'a_dd' < 'a-cc' AS linguistic`;
    expect(row!.linguistic).toBe(true);
  });

  for (const field of ['username', 'email'] as const) {
    test(`by ${field}, both ways, a page at a time: code-unit order of the lower-cased values`, async () => {
      for (const sort of [field, `-${field}`]) {
        const seen: User[] = [];
        let cursor: string | null = null;
        do {
          const page: { status: number; body: UserList } = await admin.get(`/api/v1/users?sort=${sort}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
          expect(page.status).toBe(200);
          seen.push(...page.body.items);
          cursor = page.body.next_cursor;
        } while (cursor);
        const values = seen.map((u) => u[field].toLowerCase());
        const sorted = byCodeUnits(values);
        expect(values, sort).toEqual(sort.startsWith('-') ? sorted.reverse() : sorted);
        expect(values.length).toBe(usernames.length + 1);
      }
    });
  }
});

// The Projects and Applications pages place a project or application that arrives live by the same
// rule (web/src/lib/name-order.ts), so their lists must come sorted by it too.
describe('projects and applications are listed by name as the console places them', () => {
  const names = ['a-cc', 'abb', 'a.bb', 'Aaa', 'a_dd', 'Wiki', 'wiki', 'Wiki', 'zeta', 'Zeta'];

  test('projects', async () => {
    for (const name of names) await admin.ok('POST /projects', { body: { name, owner_id: adminId } });
    const { items } = (await admin.ok('GET /projects')) as { items: { id: string; name: string }[] };
    expect(items.map((p) => p.id)).toEqual([...items].sort(byName).map((p) => p.id));
  });

  test('applications', async () => {
    for (const [n, name] of names.entries()) await admin.ok('POST /applications', { body: { name, forward_auth_host: `app${n}.example.com` } });
    const { items } = (await admin.ok('GET /applications')) as { items: { id: string; name: string }[] };
    expect(items.map((a) => a.id)).toEqual([...items].sort(byName).map((a) => a.id));
  });
});
