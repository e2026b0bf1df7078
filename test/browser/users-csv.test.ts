import { mkdir, readFile } from 'node:fs/promises';
import Papa from 'papaparse';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { createTestUser, LiveClient, signedInClient } from '../helpers/clients.ts';
import { axeViolations, horizontalOverflow, screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The console's CSV import page and the users table's export button, in Chromium.

describe.skipIf(!chromiumPath)('CSV import and export in the console', () => {
  let server: TestServer;
  let browser: Browser;
  let admin: Page;
  let problems: string[];
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    server = await startTestServer({ web: true });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { username: 'grace', display_name: 'Grace Hopper', email: 'grace@example.com', password });
    await createTestUser(server, { username: 'mallory', display_name: '=HYPERLINK("http://evil.example","x")', password });
    browser = await launchBrowser();
    admin = (await signInPage(browser, server, 'ada', password)).page;
    // Chromium logs each refused request; the tests provoke none on purpose, so nothing else may appear.
    problems = watchProblems(admin);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function fullPage(page: Page, name: string) {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: `${screenshots}/${name}-${scheme}.png`, fullPage: true });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  const file = (name: string, text: string) => ({ name, mimeType: 'text/csv', buffer: Buffer.from(text) });

  test('choose a file, match the columns, see every row\'s problems before anything is written, then import with a result per row', async () => {
    // Another admin watches the users table while the import runs.
    await createTestUser(server, { role: 'admin', username: 'alan', display_name: 'Alan Turing', password });
    const { client: other } = await signedInClient(server, { role: 'admin' });
    const watcher = await LiveClient.connect(server, other.cookie);
    const alan = (await signInPage(browser, server, 'alan', password)).page;
    const alanProblems = watchProblems(alan);
    await alan.locator('tr[data-user]').first().waitFor();
    await admin.goto(`${server.url}/users/import`);
    const rows = [
      ['Login', 'E-mail', 'Full name', 'Role', 'Team'],
      ['linus', 'linus@example.com', 'Linus Torvalds', 'moderator', 'kernel'],
      ['barbara', 'barbara@example.com', 'Barbara Liskov', '', 'research'],
      ['grace', 'grace@example.com', 'Grace B. Hopper', 'user', 'navy'],
      ['x', 'not-an-address', 'Broken Row', 'boss', ''],
      ['ken', 'linus@example.com', 'Ken Thompson', '', 'unix'],
      ...Array.from({ length: 1200 }, (_, i) => [`member${i}`, `member${i}@example.com`, `Member ${i}`, '', 'many']),
    ];
    await admin.getByLabel('CSV file', { exact: true }).setInputFiles(file('people.csv', Papa.unparse(rows)));
    await expect.poll(() => admin.getByTestId('import-file-summary').textContent()).toMatch(/people\.csv.*1,205 rows, 5 columns/);

    // The columns are guessed from their headers; the unknown one is left out.
    expect(await admin.getByLabel('Username (required)', { exact: true }).inputValue()).toBe('Login');
    expect(await admin.getByLabel('Email (required)', { exact: true }).inputValue()).toBe('E-mail');
    expect(await admin.getByLabel('Display name', { exact: true }).inputValue()).toBe('Full name');
    expect(await admin.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    const usersBefore = (await server.sql`SELECT count(*)::int AS n FROM users`)[0]!.n;

    await admin.getByTestId('import-check').click();
    await expect.poll(() => admin.getByTestId('import-summary').textContent()).toMatch(/1,202 new, 1 existing \(skipped\), 2 rows with problems/);
    expect((await server.sql`SELECT count(*)::int AS n FROM users`)[0]!.n).toBe(usersBefore);
    // Rows with problems are shown first, each with its reasons under the row.
    const table = admin.getByTestId('import-rows');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    expect(await table.locator('tbody tr').nth(0).textContent()).toMatch(/Username: Username must be at least 3 characters.*Email: Email is not a valid address.*Role: Role must be admin, moderator or user/);
    expect(await table.locator('tbody tr').nth(1).textContent()).toMatch(/Email: Same as row 1/);
    expect(await axeViolations(admin)).toEqual([]);
    expect(await horizontalOverflow(admin)).toBe(0);
    await shootBoth(admin, 'users-import-preview');
    await fullPage(admin, 'users-import-preview-full');

    await admin.getByRole('button', { name: 'Import 1,203 rows' }).click();
    await expect.poll(() => admin.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toMatch(/1,202 created, 1 skipped, 2 not imported/);
    expect((await server.sql`SELECT count(*)::int AS n FROM users`)[0]!.n).toBe(usersBefore + 1202);
    const linus = (await server.sql`SELECT display_name, role FROM users WHERE username = 'linus'`)[0]!;
    expect(linus).toEqual({ display_name: 'Linus Torvalds', role: 'moderator' });
    expect((await server.sql`SELECT display_name FROM users WHERE username = 'grace'`)[0]!.display_name).toBe('Grace Hopper');
    await fullPage(admin, 'users-import-result-full');
    await admin.getByLabel('Show only rows with problems').uncheck();
    expect(await table.locator('tbody tr').first().textContent()).toMatch(/linus.*Created/);
    expect(await admin.getByText('Showing the first 500 of 1,205 rows.').count()).toBe(1);
    await shootBoth(admin, 'users-import-result');

    // Other admins heard of every user and of each chunk (1,203 rows sent: three chunks).
    await watcher.until(() => watcher.events.filter((e) => e.action === 'users.imported').length === 3 || undefined, 'three chunk events', 15_000);
    expect(watcher.events.filter((e) => e.action === 'user.created').length).toBe(1202);
    watcher.close();
    // Alan's table took every new user from the live feed, without a reload.
    const total = (await server.sql`SELECT count(*)::int AS n FROM users`)[0]!.n;
    await expect.poll(() => alan.getByTestId('user-count').textContent(), { timeout: 15_000 }).toBe(`${total.toLocaleString('en')} users`);
    await alan.locator('tr[data-user^="member"]').first().waitFor();
    expect(alanProblems).toEqual([]);
    await alan.context().close();

    // The audit log says it in words.
    await admin.goto(`${server.url}/audit?action=users.imported`);
    await expect.poll(() => admin.locator('li[data-action="users.imported"]').first().textContent()).toMatch(/imported (500|203) rows of a CSV file/);
    await shootBoth(admin, 'audit-users-imported');
    expect(problems).toEqual([]);
  });

  test('update mode previews and applies changes to existing users', async () => {
    await admin.goto(`${server.url}/users/import`);
    await admin.getByLabel('CSV file', { exact: true }).setInputFiles(file('updates.csv', 'username,email,name,role\ngrace,grace@example.com,Rear Admiral Hopper,moderator\n'));
    await admin.getByLabel('Display name', { exact: true }).selectOption('name');
    await admin.getByLabel(/update the user/).check();
    await admin.getByTestId('import-check').click();
    await expect.poll(() => admin.getByTestId('import-summary').textContent()).toMatch(/0 new, 1 to update/);
    // Another admin changes users meanwhile: the preview says its answers may be out of date.
    const { client: other } = await signedInClient(server, { role: 'admin' });
    await other.post('/api/v1/users', { username: 'hedy', display_name: 'Hedy Lamarr', email: 'hedy@example.com', generate_password: true });
    await admin.getByText('Users changed since the check.').waitFor();
    await admin.getByRole('button', { name: 'Check again' }).click();
    await expect.poll(() => admin.getByText('Users changed since the check.').count()).toBe(0);
    await admin.getByRole('button', { name: 'Import 1 row' }).click();
    await expect.poll(() => admin.getByTestId('import-summary').textContent()).toMatch(/0 created, 1 updated/);
    expect((await server.sql`SELECT display_name, role FROM users WHERE username = 'grace'`)[0]).toEqual({ display_name: 'Rear Admiral Hopper', role: 'moderator' });
  });

  test('invite mode: each new row gets an invitation mail instead of an account, and the Invitations page shows them live', async () => {
    // Another admin watches the Invitations page while the file is invited.
    await createTestUser(server, { role: 'admin', username: 'katherine', display_name: 'Katherine Johnson', password });
    const watcher = (await signInPage(browser, server, 'katherine', password)).page;
    const watcherProblems = watchProblems(watcher);
    await watcher.goto(`${server.url}/invitations`);
    await watcher.getByRole('heading', { name: 'Invitations' }).waitFor();

    await admin.goto(`${server.url}/users/import`);
    const csv = 'username,email,name,role,password\nmargaret,margaret@example.com,Margaret Hamilton,moderator,a fine long password\nradia,radia@example.com,Radia Perlman,,\ngrace,grace@example.com,Grace,,\nbad,not-an-address,Bad,,\n';
    await admin.getByLabel('CSV file', { exact: true }).setInputFiles(file('invite.csv', csv));
    await admin.getByLabel('Display name', { exact: true }).selectOption('name');
    expect(await admin.getByLabel('Password', { exact: true }).inputValue()).toBe('password');
    await admin.getByTestId('import-mode-invite').check();
    // The password column is not used, and the page says so; mail is not configured on this server.
    expect(await admin.getByLabel('Password', { exact: true }).isDisabled()).toBe(true);
    expect(await admin.getByTestId('import-invite-hint').textContent()).toMatch(/A password or status column is not used/);
    await admin.getByTestId('mail-not-configured').waitFor();
    const before = (await server.sql`SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM invitations) AS invitations`)[0];

    await admin.getByTestId('import-check').click();
    await expect.poll(() => admin.getByTestId('import-summary').textContent()).toMatch(/2 to invite, 1 existing or invited already \(skipped\), 1 row with problems/);
    expect((await server.sql`SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM invitations) AS invitations`)[0]).toEqual(before);
    await admin.getByLabel('Show only rows with problems').uncheck();
    await expect.poll(() => admin.getByTestId('import-rows').locator('tbody tr').count()).toBe(4);
    expect(await admin.getByTestId('import-rows').textContent()).toMatch(/Will be invited/);
    expect(await axeViolations(admin)).toEqual([]);
    await fullPage(admin, 'users-import-invite-preview');

    await admin.getByRole('button', { name: 'Invite 3 rows' }).click();
    await expect.poll(() => admin.getByTestId('import-summary').textContent()).toMatch(/2 invited, 1 skipped, 1 not invited/);
    await watcher.locator('tr[data-invitation="margaret"]').waitFor();
    await watcher.locator('tr[data-invitation="radia"]').waitFor();
    expect(await watcher.locator('tr[data-invitation="margaret"]').textContent()).toMatch(/Margaret Hamilton.*Moderator/);
    const after = (await server.sql`SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM invitations) AS invitations`)[0]!;
    expect(after).toEqual({ users: before!.users, invitations: before!.invitations + 2 });
    await fullPage(admin, 'users-import-invite-done');
    await admin.getByRole('link', { name: 'Go to Invitations' }).click();
    await admin.locator('tr[data-invitation="radia"]').waitFor();
    expect(watcherProblems).toEqual([]);
    await watcher.close();
  });

  test('a file without rows or without the required columns says so', async () => {
    await admin.goto(`${server.url}/users/import`);
    await admin.getByLabel('CSV file', { exact: true }).setInputFiles(file('empty.csv', 'username,email\n'));
    await expect.poll(() => admin.getByRole('alert').textContent()).toMatch(/no rows under a header line/);
    await admin.getByLabel('CSV file', { exact: true }).setInputFiles(file('names.csv', 'first,last\nAda,Lovelace\n'));
    await expect.poll(() => admin.locator('.alert.info').textContent()).toMatch(/Choose the column for username and email/);
    expect(await admin.getByTestId('import-check').isDisabled()).toBe(true);
  });

  test('the Export button downloads the filtered table, formulas escaped', async () => {
    await admin.goto(`${server.url}/users?role=user`);
    await admin.locator('tr[data-user]').first().waitFor();
    await shootBoth(admin, 'users-export-button');
    const [download] = await Promise.all([admin.waitForEvent('download'), admin.getByTestId('users-export').click()]);
    expect(download.suggestedFilename()).toMatch(/^roster-users-\d{4}-\d{2}-\d{2}\.csv$/);
    const parsed = Papa.parse<Record<string, string>>(await readFile((await download.path())!, 'utf8'), { header: true, skipEmptyLines: true }).data;
    expect(parsed.every((row) => row.role === 'user')).toBe(true);
    expect(parsed.find((row) => row.username === 'mallory')!.display_name).toBe('\'=HYPERLINK("http://evil.example","x")');
    expect(parsed.some((row) => row.username === 'ada')).toBe(false);
  });
});
