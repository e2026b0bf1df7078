import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { chromiumPath } from '../helpers/browser.ts';
import { insertUsers } from '../helpers/database.ts';
import { ApiClient, connectSocket, createTestUser } from '../helpers/clients.ts';
import { holdableLiveMessages, holdAnswer, settles, signInPage, takeLiveConnections, useTwoAdmins, watchProblems } from '../helpers/console.ts';

// "Every admin's lists, counts and panels are current without a reload", tried as an outsider
// would: each test first checks what the live page shows, then what a reload shows.
describe.skipIf(!chromiumPath)('lists and panels stay current without a reload', () => {
  const fixture = useTwoAdmins();
  const { server, password } = fixture;

  const row = (page: Page, username: string) => page.locator(`tr[data-user="${username}"]`);

  /** Scrolls the users table from top to bottom, loading every page, and returns every username it showed. */
  async function everyRow(page: Page): Promise<Set<string>> {
    const seen = new Set<string>();
    const wrap = page.locator('.table-wrap');
    await wrap.evaluate((el) => el.scrollTo(0, 0));
    let still = 0;
    for (let step = 0; step < 400 && still < 8; step++) {
      const names = await page.locator('tbody tr[data-user]').evaluateAll((els) => els.map((e) => e.getAttribute('data-user')!));
      const before = seen.size;
      for (const name of names) seen.add(name);
      const atBottom = await wrap.evaluate((el) => {
        el.scrollBy(0, 250);
        return el.scrollTop + el.clientHeight >= el.scrollHeight - 2;
      });
      await page.waitForTimeout(60);
      still = atBottom && seen.size === before ? still + 1 : 0;
    }
    return seen;
  }


  async function version(username: string) {
    const [u] = await server.sql<{ id: string; version: number }[]>`SELECT id, version FROM users WHERE username = ${username}`;
    return u!;
  }

  test('role filter: the last loaded row leaves the filter and comes back; it is still in the list', async () => {
    await insertUsers(server.sql, 'mod', 150, { spacedBy: 'created_at', role: 'moderator' });
    const firstPage = (await fixture.admin.get('/api/v1/users?role=moderator&limit=100')).body as { items: { username: string }[] };
    const last = firstPage.items.at(-1)!.username; // the last row of the console's first page (100 rows)
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/users?role=moderator`);
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('150 users');
    const target = await version(last);
    expect((await fixture.admin.patch(`/api/v1/users/${target.id}`, { version: target.version, role: 'user' })).status).toBe(200);
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('149 users');
    expect((await fixture.admin.patch(`/api/v1/users/${target.id}`, { version: target.version + 1, role: 'moderator' })).status).toBe(200);
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('150 users');
    const shown = await everyRow(page);
    await page.reload();
    await expect.poll(() => page.getByTestId('user-count').textContent()).toBe('150 users');
    const reloaded = await everyRow(page);
    expect(reloaded.size).toBe(150); // a reload shows all 150, `last` among them
    expect(reloaded.has(last)).toBe(true);
    expect([...reloaded].filter((name) => !shown.has(name)), 'rows the live table lost').toEqual([]);
    await context.close();
  });


  // A user who was not loaded and now belongs among the loaded rows: their row comes with what the
  // list shows of them (sessions, projects), not with counts of a new user.
  test('role filter: a user promoted into it shows with their sessions and projects', async () => {
    const prue = await createTestUser(server, { username: 'prue', display_name: 'Prue Promoted', password });
    await new ApiClient(server).signIn('prue', password);
    expect((await fixture.admin.api('POST /projects', { body: { name: 'Prue notes', owner_id: prue.id } })).status).toBe(201);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/users?role=moderator`);
    await page.getByTestId('user-count').waitFor();
    const before = await version('prue');
    expect((await fixture.admin.patch(`/api/v1/users/${prue.id}`, { version: before.version, role: 'moderator' })).status).toBe(200);
    const counts = async () => [await row(page, 'prue').locator('.sessions').textContent(), await row(page, 'prue').locator('.col-projects').textContent()].map((text) => text!.trim().split(/\s/)[0]);
    const live = await settles(() => expect.poll(counts, { timeout: 5000 }).toEqual(['1', '1']));
    await page.reload();
    await expect.poll(counts).toEqual(['1', '1']); // what a reload shows
    expect(live, 'the live row shows their session and project').toBe(true);
    await context.close();
  });

  test('sorted by last sign-in: a sign-in moves the user to the top, loaded or not', async () => {
    await insertUsers(server.sql, 'seen', 150, { spacedBy: 'last_login_at' });
    const leo = await createTestUser(server, { username: 'leo', display_name: 'Leo Loaded', password });
    await server.sql`UPDATE users SET last_login_at = now() - interval '5 minutes 30 seconds' WHERE id = ${leo.id}`; // sixth, in view
    await createTestUser(server, { username: 'lena', display_name: 'Lena Beyond', password }); // never signed in: last
    const { page, context } = await signInPage(fixture.browser, server, 'ada', password);
    await page.goto(`${server.url}/users?sort=-last_login_at`);
    await row(page, 'leo').waitFor();
    expect(await row(page, 'lena').count()).toBe(0);
    await new ApiClient(server).signIn('leo', password);
    await new ApiClient(server).signIn('lena', password);
    const top = () => page.locator('tbody tr[data-user]').evaluateAll((rows) => rows.slice(0, 2).map((r) => r.getAttribute('data-user')));
    const live = await settles(() => expect.poll(top, { timeout: 5000 }).toEqual(['lena', 'leo']));
    await page.reload();
    await expect.poll(top).toEqual(['lena', 'leo']); // what a reload shows
    expect(live, 'the live table moves them to the top').toBe(true);
    await context.close();
  });

  test('sessions page: a user renamed shows the new name on their sessions', async () => {
    await createTestUser(server, { username: 'sam', display_name: 'Sam Before', password });
    await new ApiClient(server).signIn('sam', password);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/sessions`);
    const sams = page.locator('tr[data-session]', { hasText: '@sam' });
    await sams.first().waitFor();
    expect(await sams.first().textContent()).toMatch(/Sam Before/);
    const sam = await version('sam');
    await page.waitForTimeout(1000); // the page's second load on entry (the debounced filters) is done
    expect((await fixture.admin.patch(`/api/v1/users/${sam.id}`, { version: sam.version, display_name: 'Sam After' })).status).toBe(200);
    const live = await settles(() => expect.poll(() => sams.first().textContent(), { timeout: 5000 }).toMatch(/Sam After/));
    await page.reload();
    await expect.poll(() => sams.first().textContent()).toMatch(/Sam After/); // what a reload shows
    expect(live, 'the live list shows the new name').toBe(true);
    await context.close();
  });


  test('sessions page searched by email: a new sign-in that matches shows', async () => {
    await createTestUser(server, { username: 'quinn', display_name: 'Quinn Q', email: 'quinn@acme-corp.test', password });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/sessions?q=acme-corp`);
    await page.waitForTimeout(1000); // the page's loads on entry are done
    expect(await page.locator('tr[data-session]').count()).toBe(0);
    await new ApiClient(server).signIn('quinn', password);
    const live = await settles(() => expect.poll(() => page.locator('tr[data-session]', { hasText: '@quinn' }).count(), { timeout: 5000 }).toBe(1));
    await page.reload();
    await expect.poll(() => page.locator('tr[data-session]', { hasText: '@quinn' }).count()).toBe(1); // the server matches the email
    expect(live, 'the new session shows live').toBe(true);
    await context.close();
  });

  test("projects page of a plain user: removed from a project, it leaves their list", async () => {
    const pat = await createTestUser(server, { username: 'pat', display_name: 'Pat Plain', password });
    const ada = await version('ada');
    const create = async (name: string) =>
      ((await fixture.admin.api('POST /projects', { body: { name, owner_id: ada.id, member_ids: [pat.id] } as never })).body as { project: { id: string; version: number } }).project;
    const renamed = await create('Pat renamed');
    const left = await create('Pat left');
    const { page, context } = await signInPage(fixture.browser, server, 'pat', password);
    await page.goto(`${server.url}/projects`);
    await page.locator('tr[data-project="Pat left"]').waitFor();
    // Control: a rename reaches her list live.
    expect((await fixture.admin.patch(`/api/v1/projects/${renamed.id}`, { version: renamed.version, name: 'Pat renamed 2' })).status).toBe(200);
    await page.locator('tr[data-project="Pat renamed 2"]').waitFor();
    expect((await fixture.admin.delete(`/api/v1/projects/${left.id}/members/${pat.id}`)).status).toBe(200);
    // A reload no longer lists it (row-level security); the live list should not either.
    const live = await settles(() => expect.poll(() => page.locator('tr[data-project="Pat left"]').count(), { timeout: 5000 }).toBe(0));
    await page.reload();
    await page.locator('tr[data-project="Pat renamed 2"]').waitFor();
    expect(await page.locator('tr[data-project="Pat left"]').count()).toBe(0); // a reload no longer lists it
    expect(live, 'the live list drops it').toBe(true);
    await context.close();
  });


  /**
   * Routes the page's live connection through the test: `away` cuts it and keeps it cut, `back`
   * lets it connect again after more than the replay's 1000 events passed (e.g. a large import),
   * so the console is told to resync.
   */
  async function resyncable(context: BrowserContext, page: Page) {
    let blocked = false;
    const open = new Set<{ close: () => Promise<void> }>();
    await context.routeWebSocket(/\/socket\.io\//, (ws) => {
      if (blocked) return void ws.close();
      const upstream = ws.connectToServer();
      ws.onMessage((message) => upstream.send(message));
      upstream.onMessage((message) => ws.send(message));
      open.add(ws);
    });
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    return {
      away: async () => {
        blocked = true;
        for (const ws of open) await ws.close();
        await page.getByTestId('connection').filter({ hasNotText: 'Live' }).waitFor();
      },
      back: async () => {
        await server.sql`
          INSERT INTO events (actor_label, action, target_type, target_label, data)
          SELECT 'cli', 'auth.login_failed', 'user', 'nobody' || n, '{}'::jsonb FROM generate_series(1, 1001) n`;
        blocked = false;
        await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
      },
    };
  }

  test('after a resync (too much missed while away) an open user panel shows the change', async () => {
    const rita = await createTestUser(server, { username: 'rita', display_name: 'Rita Before' });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const connection = await resyncable(context, page);
    await row(page, 'rita').waitFor();
    await row(page, 'rita').locator('button.name').click();
    const name = page.getByRole('dialog').getByLabel('Display name');
    await expect.poll(() => name.inputValue()).toBe('Rita Before');
    await connection.away();
    const r = await version('rita');
    expect((await fixture.admin.patch(`/api/v1/users/${rita.id}`, { version: r.version, display_name: 'Rita After' })).status).toBe(200);
    await connection.back();
    await expect.poll(() => row(page, 'rita').textContent(), { timeout: 5000 }).toMatch(/Rita After/); // the list reloaded
    const live = await settles(() => expect.poll(() => name.inputValue(), { timeout: 5000 }).toBe('Rita After'));
    expect(live, 'the open panel shows the change').toBe(true);
    await context.close();
  });

  test('after a resync an open panel of a user deleted meanwhile closes, as the live deletion closes it', async () => {
    const rhea = await createTestUser(server, { username: 'rhea', display_name: 'Rhea Gone' });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const problems = watchProblems(page, [/404/]);
    const connection = await resyncable(context, page);
    await row(page, 'rhea').locator('button.name').click();
    const panel = page.getByRole('dialog');
    await expect.poll(() => panel.getByLabel('Display name').inputValue()).toBe('Rhea Gone');
    await connection.away();
    expect((await fixture.admin.delete(`/api/v1/users/${rhea.id}`)).status).toBe(204);
    await connection.back();
    await row(page, 'rhea').waitFor({ state: 'detached', timeout: 5000 }); // the list reloaded
    await panel.waitFor({ state: 'detached', timeout: 5000 });
    await page.waitForTimeout(500); // any notice about it has shown
    expect(await page.locator('[data-sonner-toast]').allTextContents()).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });

  // A panel opened again for the same user: the record from the first opening must not count as
  // loaded, or a live record arriving during the reload is replaced by the reload's older answer.
  test('a panel reopened for the same user: a change saved while its record is on its way is what it shows', async () => {
    const target = await createTestUser(server, { username: 'vera', display_name: 'Vera One' });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await row(page, 'vera').waitFor();
    await row(page, 'vera').locator('button.name').click();
    const name = page.getByRole('dialog').getByLabel('Display name');
    await expect.poll(() => name.inputValue()).toBe('Vera One');
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    expect((await fixture.admin.patch(`/api/v1/users/${target.id}`, { version: target.version, display_name: 'Vera Two' })).status).toBe(200);
    await expect.poll(() => row(page, 'vera').textContent()).toMatch(/Vera Two/);
    const { read, deliver } = await holdAnswer(page, (url) => url.pathname === `/api/v1/users/${target.id}`);
    await row(page, 'vera').locator('button.name').click();
    await read; // read by the server now, at Vera Two
    expect((await fixture.admin.patch(`/api/v1/users/${target.id}`, { version: target.version + 1, display_name: 'Vera Three' })).status).toBe(200);
    await expect.poll(() => row(page, 'vera').textContent()).toMatch(/Vera Three/); // the event reached the page
    await deliver();
    await page.waitForTimeout(500); // what the panel does with the older answer, it has done
    expect(await name.inputValue()).toBe('Vera Three');
    await context.close();
  });

  test('account page loaded before a late first live connection: a sign-in meanwhile shows', async () => {
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const taken = await takeLiveConnections(server, context, page);
    try {
      await page.goto(`${server.url}/account`);
      const items = page.locator('section[aria-labelledby="sessions-title"] li');
      await items.first().waitFor();
      const before = await items.count();
      await page.getByTestId('connection').filter({ hasText: 'Reconnecting…' }).waitFor();
      await new ApiClient(server).signIn('brian', password); // a new session of hers, before the connection
      taken.pop()!.close();
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
      const live = await settles(() => expect.poll(() => items.count(), { timeout: 5000 }).toBe(before + 1));
      await page.reload();
      await expect.poll(() => items.count()).toBe(before + 1); // what a reload shows
      expect(live, 'the live account page shows the new session').toBe(true);
    } finally {
      for (const socket of taken) socket.close();
      await context.close();
    }
  });
  test('stats cards: an older push arriving after a newer one does not put the counts back', async () => {
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    // Pushes from two nodes, or two from one node whose reads overlap, can arrive in either order:
    // this holds the next push and lets the one after it overtake.
    const messages = await holdableLiveMessages(context);
    await page.goto(`${server.url}/users`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const total = page.getByTestId('stat-total');
    await expect.poll(() => total.textContent()).toMatch(/^\d+$/);
    await page.waitForTimeout(600); // the push for this page's own connection has come
    const before = Number(await total.textContent());
    const create = (username: string) =>
      fixture.admin.api('POST /users', { body: { username, display_name: username, email: `${username}@example.com`, generate_password: true } });
    messages.hold((message) => messages.held === 0 && typeof message === 'string' && message.startsWith('42["stats"'));
    expect((await create('stats-first')).status).toBe(201);
    await expect.poll(() => messages.held).toBe(1);
    expect((await create('stats-second')).status).toBe(201);
    await expect.poll(() => total.textContent()).toBe(String(before + 2));
    messages.release();
    await page.waitForTimeout(500); // what the page does with the older push, it has done
    const live = await total.textContent();
    await page.reload();
    await expect.poll(() => total.textContent()).toBe(String(before + 2)); // what a reload shows
    expect(live, 'the live cards keep the newer counts').toBe(String(before + 2));
    await context.close();
  });
  test('stats cards: a page read of the stats answered after a newer push does not put "online" back', async () => {
    await createTestUser(server, { username: 'carl', display_name: 'Carl Online', password });
    const carlClient = new ApiClient(server);
    await carlClient.signIn('carl', password);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const online = page.getByTestId('stat-online');
    const serverOnline = async () => String(((await fixture.admin.get('/api/v1/users/stats')).body as { online: number }).online);
    await expect.poll(async () => (await online.textContent()) === (await serverOnline())).toBe(true);
    const before = Number(await online.textContent());
    // The users page reads the stats when it opens: held while Carl's connection comes.
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.waitForURL(/\/projects/);
    const { read, deliver } = await holdAnswer(page, (url) => url.pathname === '/api/v1/users/stats');
    await page.getByRole('link', { name: 'Users' }).click();
    await read; // read with Carl offline
    const socket = await connectSocket(server, { cookie: carlClient.cookie });
    try {
      await expect.poll(() => online.textContent()).toBe(String(before + 1)); // the push reached the page
      await deliver();
      await page.waitForTimeout(500); // what the page does with the older read, it has done
      const live = await online.textContent();
      await page.reload();
      await expect.poll(() => page.getByTestId('stat-online').textContent()).toBe(String(before + 1)); // what a reload shows
      expect(live, 'the live card keeps the newer online count').toBe(String(before + 1));
    } finally {
      socket.close();
      await context.close();
    }
  });
});
