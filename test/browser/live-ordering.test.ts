import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { holdableLiveMessages, holdAnswer, signInPage, takeLiveConnections } from '../helpers/console.ts';
import { insertUsers } from '../helpers/database.ts';
import { hashPassword } from '../../server/src/auth/passwords.ts';
import { useTestServer } from '../helpers/server.ts';

// A list or panel loads over HTTP and is kept current by live events, and the two race both ways:
// a page read before an event can arrive after it, and one read after an event before it. Each
// test holds an answer (`holdAnswer`) or the live messages back to make one order happen, and
// checks that the console shows what a reload would (docs/live-protocol.md, "Lists loaded while
// events arrive").
describe.skipIf(!chromiumPath)('pages and live events in either order', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  const password = 'correct horse battery';

  beforeAll(async () => {
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'admin', username: 'brian', display_name: 'Brian Kernighan', password });
    await createTestUser(server, { username: 'grace', display_name: 'Grace Hopper', password });
    // Enough users for several pages of the users table (100 a page).
    await insertUsers(server.sql, 'bulk', 400, { spacedBy: 'created_at' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  const row = (page: Page, username: string) => page.locator(`tr[data-user="${username}"]`);

  /**
   * The users table sorted by last sign-in, once its reads are over: the first page is in, events
   * come as they happen, and no list read has been on its way for a second (on a slow machine the
   * live channel's first connection can load the list again after it shows Live).
   */
  async function openSortedBySignIn(page: Page) {
    // A set, not a count: a read the page before started ends (aborted) after this one opens.
    const reading = new Set<Request>();
    let lastRead = Date.now();
    const isListRead = (request: Request) => new URL(request.url()).pathname === '/api/v1/users';
    const done = (request: Request) => {
      if (!reading.delete(request)) return;
      lastRead = Date.now();
    };
    page.on('request', (request) => {
      if (isListRead(request)) reading.add(request);
    });
    page.on('requestfinished', done);
    page.on('requestfailed', done);
    await page.goto(`${server.url}/users?sort=-last_login_at`);
    await row(page, 'brian').waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await expect.poll(() => reading.size === 0 && Date.now() - lastRead > 1000, { timeout: 10_000 }).toBe(true);
  }

  /**
   * A user who has never signed in and whose id is the smallest: sorted by last sign-in (ties by id,
   * descending) they are the table's last row, beyond every page loaded. A random id put them on
   * the first page about one time in four, where the table drawing only the rows in view hid them.
   */
  async function lastBySignIn(username: string, display_name: string, last: number) {
    const id = `00000000-0000-4000-8000-${String(last).padStart(12, '0')}`;
    await server.sql`
      INSERT INTO users (id, username, display_name, email, password_hash)
      VALUES (${id}, ${username}, ${display_name}, ${`${username}@example.com`}, ${await hashPassword(password)})`;
    return { id, username };
  }

  // A page of users can be read before a change and arrive after the change's event: the change
  // must still show, or the table keeps the old row until a reload.
  test('users changed while a page of users is on its way show the change when it arrives', async () => {
    const kept = await createTestUser(server, { username: 'yara.kept', display_name: 'Yara Kept' });
    const gone = await createTestUser(server, { username: 'yara.gone', display_name: 'Yara Gone' });
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await row(page, 'yara.gone').waitFor();
    const { read, release } = await holdAnswer(page, (url) => url.pathname === '/api/v1/users' && url.searchParams.get('q') === 'yara'); // read by the server now, before the changes
    await page.getByTestId('user-search').fill('yara');
    await read;
    expect((await admin.patch(`/api/v1/users/${kept.id}`, { version: kept.version, display_name: 'Yara Renamed' })).status).toBe(200);
    expect((await admin.delete(`/api/v1/users/${gone.id}`)).status).toBe(204);
    // Both events reach the rows on screen (the unfiltered list) before the page comes.
    await expect.poll(() => row(page, 'yara.kept').textContent()).toMatch(/Yara Renamed/);
    await expect.poll(() => row(page, 'yara.gone').count()).toBe(0);
    release();
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('1 user');
    expect(await page.locator('tbody tr[data-user]').count()).toBe(1);
    expect(await row(page, 'yara.kept').textContent()).toMatch(/Yara Renamed/);
    await context.close();
  });

  // The other order: the page is read after a change and its event arrives after the page. The
  // page already counts it, so the event must not count it again.
  test('a sign-in the page of users already counts is not counted again when its event arrives', async () => {
    const user = await createTestUser(server, { username: 'xena', display_name: 'Xena Late', password });
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const messages = await holdableLiveMessages(context);
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await row(page, 'xena').waitFor();
    expect(await row(page, 'xena').locator('.sessions').textContent()).toMatch(/^\s*0\s*$/);
    messages.hold();
    await new ApiClient(server).signIn(user.username, password);
    await page.getByTestId('user-search').fill('xena');
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('1 user');
    expect(await row(page, 'xena').locator('.sessions').textContent()).toMatch(/^\s*1\s*$/);
    messages.release();
    // The held messages include the sign-in's event; a change after it shows that they were applied.
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const [current] = await server.sql<{ version: number }[]>`SELECT version FROM users WHERE id = ${user.id}`;
    await admin.patch(`/api/v1/users/${user.id}`, { version: current!.version, display_name: 'Xena Counted' });
    await expect.poll(() => row(page, 'xena').textContent()).toMatch(/Xena Counted/);
    expect(await row(page, 'xena').locator('.sessions').textContent()).toMatch(/^\s*1\s*$/);
    await context.close();
  });

  // The same race on a list loaded whole: the projects page.
  test('projects changed while the projects page is on its way show the change when it arrives', async () => {
    const admin = new ApiClient(server);
    const ada = await admin.signIn('ada', password);
    const create = async (name: string) => (await admin.api('POST /projects', { body: { name, owner_id: ada.id } })).body as { project: { id: string; version: number } };
    const { project: kept } = await create('Kept project');
    const { project: gone } = await create('Gone project');
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const { read, release } = await holdAnswer(page, (url) => url.pathname === '/api/v1/projects'); // read by the server now, before the changes
    await page.getByRole('link', { name: 'Projects' }).click();
    await read;
    expect((await admin.patch(`/api/v1/projects/${kept.id}`, { version: kept.version, name: 'Renamed project' })).status).toBe(200);
    expect((await admin.delete(`/api/v1/projects/${gone.id}`)).status).toBe(204);
    await page.waitForTimeout(1000); // both events reach the page meanwhile
    release();
    await page.locator('tr[data-project="Renamed project"]').waitFor();
    expect(await page.locator('tr[data-project="Gone project"]').count()).toBe(0);
    expect(await page.locator('tr[data-project="Kept project"]').count()).toBe(0);
    await context.close();
  });

  // A further page and the live feed (after the 400 users of the virtualised table above): the
  // rows loaded before and the count stay right whichever the server read first.
  const scrollUntil = (page: Page, username: string) =>
    expect
      .poll(
        async () => {
          await page.locator('.table-wrap').evaluate((el, to) => el.scrollTo(0, to), await page.locator('.table-wrap').evaluate((el) => el.scrollHeight));
          for (let step = 0; step < 40 && (await row(page, username).count()) === 0; step++) await page.locator('.table-wrap').evaluate((el) => el.scrollBy(0, -400));
          return row(page, username).count();
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(1);

  test('a further page read before changes to the rows above it keeps them and the count right', async () => {
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    // bulk1, bulk10–19 and bulk100–199: two pages, the second the last.
    await page.getByTestId('user-search').fill('bulk1');
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('111 users');
    const { read, release } = await holdAnswer(page, (url) => url.pathname === '/api/v1/users' && url.searchParams.has('cursor')); // read by the server now, before the changes
    await page.locator('.table-wrap').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await read;
    const [first] = await server.sql<{ id: string; version: number }[]>`SELECT id, version FROM users WHERE username = 'bulk1'`;
    const [tenth] = await server.sql<{ id: string }[]>`SELECT id FROM users WHERE username = 'bulk10'`;
    expect((await admin.patch(`/api/v1/users/${first!.id}`, { version: first!.version, display_name: 'Bulk Renamed' })).status).toBe(200);
    expect((await admin.delete(`/api/v1/users/${tenth!.id}`)).status).toBe(204);
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('110 users');
    release();
    await scrollUntil(page, 'bulk199'); // the further page is in
    expect(await page.getByTestId('user-count').textContent()).toBe('110 users');
    await page.locator('.table-wrap').evaluate((el) => el.scrollTo(0, 0));
    await expect.poll(() => row(page, 'bulk1').textContent()).toMatch(/Bulk Renamed/);
    expect(await row(page, 'bulk10').count()).toBe(0);
    await context.close();
  });

  /**
   * `username` (beyond the first page) signs in while the live messages to a fresh users page are
   * held; the page then loads its further page, read after the sign-in. `finish` releases the
   * messages when the test says, renames the user, and checks the new session counts once.
   */
  async function signInBeforeFurtherPage(username: string) {
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const [late] = await server.sql<{ id: string }[]>`SELECT id FROM users WHERE username = ${username}`;
    expect((await admin.put(`/api/v1/users/${late!.id}/password`, { password })).status).toBe(200);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const messages = await holdableLiveMessages(context);
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await row(page, 'bulk1').waitFor();
    messages.hold();
    await new ApiClient(server).signIn(username, password);
    const answered = page.waitForResponse((response) => response.url().includes('/api/v1/users?') && response.url().includes('cursor='));
    await page.locator('.table-wrap').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await answered; // read after the sign-in: it counts the new session
    return {
      page,
      async finish() {
        messages.release();
        // A change after the sign-in: once it shows, the sign-in's event was applied too.
        const [current] = await server.sql<{ version: number }[]>`SELECT version FROM users WHERE id = ${late!.id}`;
        expect((await admin.patch(`/api/v1/users/${late!.id}`, { version: current!.version, display_name: 'Renamed Later' })).status).toBe(200);
        await scrollUntil(page, username);
        await expect.poll(() => row(page, username).textContent()).toMatch(/Renamed Later/);
        expect(await row(page, username).locator('.sessions').textContent()).toMatch(/^\s*1\s*$/);
        await context.close();
      },
    };
  }

  test('a further page read after a sign-in whose event is still on its way counts it once', async () => {
    const { page, finish } = await signInBeforeFurtherPage('bulk150');
    await page.waitForTimeout(500); // what the page does with its answer, it has done
    await finish();
  });

  test('a further page whose events do not come in time makes the list start over, and counts the sign-in once', async () => {
    const { page, finish } = await signInBeforeFurtherPage('bulk160');
    // The events stay held past the list's wait: it loads its first page again.
    await page.waitForResponse((response) => response.url().includes('/api/v1/users?') && !response.url().includes('cursor='), { timeout: 10_000 });
    await finish();
  });

  // The audit log: an entry written while the log's first page is on its way joins it when it arrives.
  test('an entry written while the audit log is on its way shows when the log arrives', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const { read, release } = await holdAnswer(page, (url) => url.pathname === '/api/v1/events'); // read by the server now, before the entry
    await page.getByRole('link', { name: 'Audit log' }).click();
    await read;
    await createTestUser(server, { username: 'written-meanwhile' });
    await page.waitForTimeout(1000); // its event reaches the page meanwhile
    release();
    await page.locator('li[data-action]').first().waitFor();
    await expect.poll(() => page.locator('li[data-action="user.created"]').first().textContent()).toMatch(/written-meanwhile/);
    await context.close();
  });

  // The user panel: a change saved while the panel's record is on its way is what the form shows.
  test('a user changed while their panel is loading opens with the change', async () => {
    const target = await createTestUser(server, { username: 'wendy', display_name: 'Wendy Before' });
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await row(page, 'wendy').waitFor();
    const { read, release } = await holdAnswer(page, (url) => url.pathname === `/api/v1/users/${target.id}`); // read by the server now, before the change
    await row(page, 'wendy').locator('button.name').click();
    await read;
    expect((await admin.patch(`/api/v1/users/${target.id}`, { version: target.version, display_name: 'Wendy After' })).status).toBe(200);
    await expect.poll(() => row(page, 'wendy').textContent()).toMatch(/Wendy After/); // the event reached the page
    release();
    await expect.poll(() => page.getByRole('dialog').getByLabel('Display name').inputValue()).toBe('Wendy After');
    await context.close();
  });

  // A console whose first live connection is refused loads its pages anyway; what changes before
  // the connection comes is replayed to it, from where those pages were read.
  test('changes made before a late first live connection reach the lists loaded without it', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const taken = await takeLiveConnections(server, context, page);
    await page.goto(`${server.url}/users`);
    await row(page, 'grace').waitFor(); // the list loaded, with no live connection
    await page.getByTestId('connection').filter({ hasText: 'Reconnecting…' }).waitFor();
    await createTestUser(server, { username: 'before-live', display_name: 'Before Live' });
    taken.pop()!.close();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
    await row(page, 'before-live').waitFor();
    for (const socket of taken) socket.close();
    await context.close();
  });

  test('the audit log loaded before a late first live connection: an entry written meanwhile shows', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const taken = await takeLiveConnections(server, context, page);
    try {
      await page.goto(`${server.url}/audit`);
      const log = page.getByRole('list', { name: 'Audit entries' });
      await log.locator('li[data-action]').first().waitFor(); // the log loaded, with no live connection
      await page.getByTestId('connection').filter({ hasText: 'Reconnecting…' }).waitFor();
      await createTestUser(server, { username: 'audit-before-live', display_name: 'Audit Before Live' });
      taken.pop()!.close();
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
      const entry = log.locator('li[data-action="user.created"]').filter({ hasText: /audit-before-live|Audit Before Live/ });
      const live = await entry.waitFor({ timeout: 5000 }).then(() => true, () => false);
      await page.reload();
      await entry.waitFor(); // what a reload shows
      expect(live, 'the live audit log shows the entry').toBe(true);
    } finally {
      for (const socket of taken) socket.close();
      await context.close();
    }
  });

  // A user who moves among the loaded rows is read on their own (`GET /users?id=`): that read races
  // the events too.
  test('a user promoted, demoted and promoted again while their row is read shows in the role filter', async () => {
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const pia = await createTestUser(server, { username: 'pia.role', display_name: 'Pia Role' });
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await page.goto(`${server.url}/users?role=moderator`);
    const count = page.getByTestId('user-count');
    await count.waitFor();
    const before = await count.textContent();
    const gate = () => {
      let open!: () => void;
      return { passed: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
    };
    const [asked, send, read, deliver] = [gate(), gate(), gate(), gate()];
    await page.route(
      (url) => url.pathname === '/api/v1/users' && url.searchParams.get('id') === pia.id,
      async (route) => {
        asked.open();
        await send.passed;
        const response = await route.fetch();
        read.open();
        await deliver.passed;
        await route.fulfill({ response });
      },
      { times: 1 },
    );
    const role = async (to: 'moderator' | 'user') => {
      const [current] = await server.sql<{ version: number }[]>`SELECT version FROM users WHERE id = ${pia.id}`;
      expect((await admin.patch(`/api/v1/users/${pia.id}`, { version: current!.version, role: to })).status).toBe(200);
    };
    await role('moderator'); // she moves among the rows: her row is asked for
    await asked.passed;
    await role('user'); // and leaves before the server reads it: the read finds nothing
    await expect.poll(() => count.textContent()).toBe(before);
    send.open();
    await read.passed;
    await role('moderator'); // back, while the empty answer is on its way
    await expect.poll(() => count.textContent()).not.toBe(before);
    deliver.open();
    const live = await row(page, 'pia.role').waitFor({ timeout: 5000 }).then(() => true, () => false);
    await page.reload();
    await row(page, 'pia.role').waitFor(); // what a reload shows
    expect(live, 'the live table shows her').toBe(true);
    await context.close();
  });

  test('a burst of sign-ins in a table sorted by last sign-in reads at most four rows at once, and shows every one', async () => {
    const people = await Promise.all(Array.from({ length: 10 }, (_, n) => createTestUser(server, { username: `burst${n}`, display_name: `Burst ${n}`, password })));
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await openSortedBySignIn(page);
    let reading = 0;
    let most = 0;
    await page.route(
      (url) => url.pathname === '/api/v1/users' && url.searchParams.has('id'),
      async (route) => {
        most = Math.max(most, ++reading);
        const response = await route.fetch();
        await new Promise((resolve) => setTimeout(resolve, 300)); // a slow answer, so reads pile up
        await route.fulfill({ response });
        reading -= 1;
      },
    );
    await Promise.all(people.map((person) => new ApiClient(server).signIn(person.username, password)));
    const shown = () => page.locator('tbody tr[data-user]').evaluateAll((rows) => rows.slice(0, 10).map((r) => r.getAttribute('data-user')).sort());
    await expect.poll(shown, { timeout: 15_000 }).toEqual(people.map((person) => person.username).sort());
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    await context.close();
  });

  // Forty sign-ins are forty password checks on the server: the test gets the race tests' time.
  test('a storm of sign-ins, more than reads can keep up with, loads the first page once instead of each row', { timeout: 60_000 }, async () => {
    // Written at once with one password hash, not forty (ten seconds of a loaded CI machine).
    await insertUsers(server.sql, 'storm', 40);
    await server.sql`UPDATE users SET password_hash = ${await hashPassword(password)} WHERE username LIKE 'storm%'`;
    const people = Array.from({ length: 40 }, (_, n) => ({ username: `storm${n + 1}` }));
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await page.setViewportSize({ width: 1280, height: 3000 }); // the table draws the rows in view
    await openSortedBySignIn(page);
    let rowReads = 0;
    await page.route(
      (url) => url.pathname === '/api/v1/users' && url.searchParams.has('id'),
      async (route) => {
        rowReads += 1;
        const response = await route.fetch();
        await new Promise((resolve) => setTimeout(resolve, 1000)); // slower than the sign-ins come
        await route.fulfill({ response });
      },
    );
    await Promise.all(people.map((person) => new ApiClient(server).signIn(person.username, password)));
    const shown = () => page.locator('tbody tr[data-user]').evaluateAll((rows) => rows.slice(0, 40).map((r) => r.getAttribute('data-user')).sort());
    await expect.poll(shown, { timeout: 15_000 }).toEqual(people.map((person) => person.username).sort());
    expect(rowReads, 'rows read one by one').toBeLessThan(20);
    await context.close();
  });

  // The row of a user who moved in from beyond the loaded rows is read on its own; when that read
  // fails, the table is no longer what the server has, so it starts over from its first page.
  test('a row read on its own that fails makes the table start over, and the row shows', async () => {
    const latecomer = await lastBySignIn('lena.late', 'Lena Late', 1);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await openSortedBySignIn(page);
    expect(await row(page, latecomer.username).count(), 'not loaded: she never signed in').toBe(0);
    let failed = 0;
    await page.route(
      (url) => url.pathname === '/api/v1/users' && url.searchParams.has('id'),
      (route) => (failed++ === 0 ? route.fulfill({ status: 503, json: { error: { code: 'unavailable', message: 'The database is not answering' } } }) : route.continue()),
    );
    await new ApiClient(server).signIn(latecomer.username, password);
    await expect.poll(() => page.locator('tbody tr[data-user]').first().getAttribute('data-user'), { timeout: 10_000 }).toBe(latecomer.username);
    expect(failed).toBe(1);
    await context.close();
  });

  // The same failure once the admin has left the users page: the table is gone, so nothing starts over.
  test('a row read on its own that fails after the users page was left loads no list', async () => {
    const latecomer = await lastBySignIn('leo.left', 'Leo Left', 0);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await openSortedBySignIn(page);
    let asked!: () => void;
    const rowAsked = new Promise<void>((resolve) => (asked = resolve));
    let fail!: () => void;
    const failing = new Promise<void>((resolve) => (fail = resolve));
    await page.route(
      (url) => url.pathname === '/api/v1/users' && url.searchParams.get('id') === latecomer.id,
      async (route) => {
        asked();
        await failing;
        await route.fulfill({ status: 503, json: { error: { code: 'unavailable', message: 'The database is not answering' } } });
      },
      { times: 1 },
    );
    await new ApiClient(server).signIn(latecomer.username, password);
    await rowAsked;
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('li[data-action]').first().waitFor(); // the users page is gone
    const listReads: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/api/v1/users') listReads.push(url.search);
    });
    const failed = page.waitForResponse((response) => new URL(response.url()).searchParams.get('id') === latecomer.id);
    fail();
    await failed;
    await page.waitForTimeout(1000); // whatever the page does with the failure, it has asked for
    expect(listReads, 'users read after leaving the users page').toEqual([]);
    await context.close();
  });

  test('with the database away, rows waiting for a read of their own start the list over once, not once each, nor again for sign-ins while it does', async () => {
    const early = await Promise.all(Array.from({ length: 10 }, (_, n) => createTestUser(server, { username: `away${n}`, display_name: `Away ${n}`, password })));
    const late = await Promise.all(Array.from({ length: 4 }, (_, n) => createTestUser(server, { username: `later${n}`, display_name: `Later ${n}`, password })));
    // Signed in before the table opens, so that her row is loaded: her next sign-in shows on screen.
    await createTestUser(server, { username: 'marker', display_name: 'Mara Marker', password });
    await new ApiClient(server).signIn('marker', password);
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await openSortedBySignIn(page);
    let firstPages = 0;
    let startOver!: () => void;
    const startedOver = new Promise<void>((resolve) => (startOver = resolve));
    let releaseFirstPage!: () => void;
    const firstPageHeld = new Promise<void>((resolve) => (releaseFirstPage = resolve));
    await page.route(
      (url) => url.pathname === '/api/v1/users',
      async (route) => {
        if (new URL(route.request().url()).searchParams.has('id')) {
          await new Promise((resolve) => setTimeout(resolve, 200)); // the reads pile up meanwhile
        } else {
          firstPages += 1;
          startOver();
          await firstPageHeld;
        }
        await route.fulfill({ status: 503, json: { error: { code: 'unavailable', message: 'The database is not answering' } } });
      },
    );
    await Promise.all(early.map((person) => new ApiClient(server).signIn(person.username, password)));
    await startedOver;
    // More sign-ins while the first page is on its way; the marker's last, so that once her row
    // moves to the top the table has seen them all.
    for (const person of [...late, { username: 'marker' }]) await new ApiClient(server).signIn(person.username, password);
    await expect.poll(() => page.locator('tbody tr[data-user]').first().getAttribute('data-user')).toBe('marker');
    await page.waitForTimeout(1000); // whatever reads those sign-ins made have failed, and done what failing does
    releaseFirstPage();
    await page.getByRole('button', { name: 'Try again' }).waitFor();
    await page.waitForTimeout(1000); // whatever else the table would load, it has asked for
    expect(firstPages).toBe(1);
    await context.close();
  });

  // Loads run again on live events can land out of order: the newest answer is the one shown.
  test("a user's sessions in their panel: an older answer landing last does not replace a newer one", async () => {
    const target = await createTestUser(server, { username: 'olive', display_name: 'Olive Order', password });
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await row(page, 'olive').waitFor();
    const sessionsOfOlive = (url: URL) => url.pathname === '/api/v1/sessions' && url.searchParams.get('user_id') === target.id;
    const { read, deliver } = await holdAnswer(page, sessionsOfOlive);
    await row(page, 'olive').locator('button.name').click();
    await read; // the panel's first load, read before she signs in
    await new ApiClient(server).signIn('olive', password); // its event loads her sessions again
    const heading = page.getByRole('dialog').getByRole('heading', { name: /^Sessions/ });
    await expect.poll(() => heading.textContent()).toBe('Sessions (1)');
    await deliver();
    await page.waitForTimeout(500); // what the panel does with the older answer, it has done
    expect(await heading.textContent()).toBe('Sessions (1)');
    await context.close();
  });
});
