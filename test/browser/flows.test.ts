import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

// Issue 12, "Wrong behaviour" and the confirmations and failures of "Dead ends and messages": each
// flow as a new admin tries it, with no uncaught error and nothing logged to the console.

describe.skipIf(!chromiumPath)('console flows: dialogs that start fresh, confirmations, failures that say so', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  let page: Page;
  let problems: string[];
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { username: 'test1', display_name: 'Test 1', password });
    await createTestUser(server, { username: 'grace', display_name: 'Grace Hopper', password });
    browser = await launchBrowser();
    page = (await signInPage(browser, server, 'ada', password)).page;
    problems = watchProblems(page);
  });
  afterAll(async () => {
    await browser?.close();
  });

  const row = (username: string) => page.locator(`tr[data-user="${username}"]`);

  test('stats say "1 active session" for one; avatars take initials from letters only', async () => {
    await expect.poll(() => page.getByTestId('stats').textContent()).toMatch(/1 active session\b/);
    expect(await row('test1').locator('.avatar').first().textContent()).toBe('T');
    expect(await row('grace').locator('.avatar').first().textContent()).toBe('GH');
  });

  test('Add user opens empty, with "Generate a password" selected, every time', async () => {
    await page.getByRole('button', { name: 'Add user' }).click();
    let dialog = page.getByRole('dialog', { name: 'Add user' });
    await dialog.getByLabel('Username').fill('typed.pw');
    await dialog.getByLabel('Display name').fill('Typed Password');
    await dialog.getByLabel('Email').fill('typed.pw@example.com');
    await dialog.getByLabel('Type a password').check();
    await dialog.getByLabel('Initial password').fill('a typed passphrase');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row('typed.pw').waitFor();

    await page.getByRole('button', { name: 'Add user' }).click();
    dialog = page.getByRole('dialog', { name: 'Add user' });
    await dialog.waitFor();
    expect(await dialog.getByLabel('Username').inputValue()).toBe('');
    expect(await dialog.getByLabel('Display name').inputValue()).toBe('');
    expect(await dialog.getByLabel('Email').inputValue()).toBe('');
    expect(await dialog.getByLabel('Generate a password').isChecked()).toBe(true);
    expect(await dialog.getByLabel('Initial password').count()).toBe(0);

    // After a generated password was shown, the next one starts empty too.
    await dialog.getByLabel('Username').fill('generated.pw');
    await dialog.getByLabel('Display name').fill('Generated Password');
    await dialog.getByLabel('Email').fill('generated.pw@example.com');
    await dialog.getByLabel('Email').press('Enter');
    await page.getByRole('dialog', { name: 'User created' }).getByTestId('generated-password').waitFor();
    await page.getByRole('dialog', { name: 'User created' }).getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Add user' }).click();
    dialog = page.getByRole('dialog', { name: 'Add user' });
    expect(await dialog.getByLabel('Username').inputValue()).toBe('');
    expect(await dialog.getByTestId('generated-password').count()).toBe(0);
    await page.keyboard.press('Escape');
    const [created] = await server.sql`SELECT count(*)::int AS count FROM users WHERE username IN ('typed.pw', 'generated.pw')`;
    expect(created!.count).toBe(2);
  });

  test('the drawer\'s password reset shows a generated password once, with a copy button', async () => {
    await row('grace').locator('button.name').click();
    const drawer = page.getByRole('dialog', { name: 'Grace Hopper' });
    await drawer.getByRole('button', { name: 'Generate' }).click();
    await drawer.getByRole('button', { name: 'Set password' }).click();
    const shown = drawer.getByTestId('reset-password');
    await shown.waitFor();
    const generated = (await shown.textContent())!.trim();
    expect(generated).toMatch(/^[\w-]{16,}$/);
    expect(await drawer.getByRole('button', { name: 'Copy' }).isVisible()).toBe(true);
    await shootBoth(page, 'user-password-reset');
    // The password is the one now set: Grace signs in with it (and must then choose her own).
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: 'grace', password: generated })).status).toBe(200);
    await page.keyboard.press('Escape');
    await row('grace').locator('button.name').click();
    await page.getByRole('dialog', { name: 'Grace Hopper' }).getByRole('button', { name: 'Set password' }).waitFor();
    expect(await page.getByTestId('reset-password').count()).toBe(0);
    await page.keyboard.press('Escape');
  });

  test('a bulk action clears the selection once done', async () => {
    await page.getByLabel('Select Typed Password').check();
    await page.getByLabel('Select Generated Password').check();
    await page.getByRole('region', { name: 'Bulk actions' }).getByRole('button', { name: 'Deactivate' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Deactivate 2' }).click();
    await expect.poll(() => dialog.getByTestId('bulk-summary').textContent()).toMatch(/2 succeeded/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Bulk actions' }).count()).toBe(0);
    expect(await page.getByLabel('Select Typed Password').isChecked()).toBe(false);
  });

  test('revoking a session, all of a user\'s, or an API key asks first', async () => {
    const grace = new ApiClient(server);
    await grace.signIn('test1', password);
    await page.getByRole('link', { name: 'Sessions' }).click();
    const session = page.locator('tr[data-session]').filter({ hasText: '@test1' });
    await session.waitFor();

    await session.getByRole('button', { name: /Revoke/ }).click();
    let confirm = page.getByRole('alertdialog');
    await confirm.getByText(/Test 1/).first().waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect(await session.count()).toBe(1);

    await session.getByRole('button', { name: 'All of user' }).click();
    confirm = page.getByRole('alertdialog');
    await expect.poll(() => confirm.textContent()).toMatch(/API keys/);
    await shootBoth(page, 'confirm-sign-out-user');
    await confirm.getByRole('button', { name: 'Cancel' }).click();

    await session.getByRole('button', { name: /Revoke/ }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke session' }).click();
    await session.waitFor({ state: 'detached' });
    expect((await grace.get('/api/v1/auth/me')).status).toBe(401);

    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByLabel('New key name').fill('to be revoked');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByTestId('new-api-key').waitFor();
    await page.getByRole('button', { name: 'Revoke key to be revoked' }).click();
    confirm = page.getByRole('alertdialog');
    await confirm.getByText(/to be revoked/).first().waitFor();
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await page.getByRole('button', { name: 'Revoke key to be revoked' }).waitFor({ state: 'detached' });
  });

  test('a failed action says so in a toast; nothing fails silently', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await row('test1').waitFor();
    await page.route('**/api/v1/users/*/sessions', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'The database is unavailable; try again shortly' } }) }),
    );
    const allowed = problems.length;
    await row('test1').getByRole('button', { name: 'Actions for Test 1' }).click();
    await page.getByRole('menuitem', { name: 'Sign out everywhere' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.locator('[data-sonner-toast]').filter({ hasText: 'The database is unavailable' }).waitFor();
    await shootBoth(page, 'toast-error');
    await page.unroute('**/api/v1/users/*/sessions');
    // Chromium logs the refused response itself; the console adds nothing of its own.
    expect(problems.slice(allowed).filter((p) => !/Failed to load resource/.test(p))).toEqual([]);
    problems.splice(allowed);
  });

  test('the account page of a session that gets revoked lands on sign-in without an uncaught error', async () => {
    const user = await createTestUser(server, { username: 'revokee', display_name: 'Revo Kee', password });
    const { context, page: own } = await signInPage(browser, server, 'revokee', password);
    const ownProblems = watchProblems(own, [/Failed to load resource/]);
    await own.waitForURL(/\/account/);
    await own.getByRole('heading', { name: 'Your sessions' }).waitFor();
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    expect((await admin.delete(`/api/v1/users/${user.id}/sessions`)).status).toBe(204);
    await own.waitForURL(/\/login\?reason=revoked/);
    await own.waitForTimeout(300);
    expect(ownProblems).toEqual([]);
    await context.close();
  });

  test('nothing was logged or thrown along the way', () => {
    expect(problems).toEqual([]);
  });
  test('opening a list page asks for its first page once, and a filter once more', async () => {
    const { page: fresh, context } = await signInPage(browser, server, 'ada', password);
    const asked: string[] = [];
    fresh.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/api/v1/users' || url.pathname === '/api/v1/sessions') asked.push(url.pathname + url.search);
    });
    for (const path of ['/users', '/sessions']) {
      // Away from the console first: the page signing in landed on may still be asking for its list.
      await fresh.goto('about:blank');
      asked.length = 0;
      await fresh.goto(`${server.url}${path}`);
      await fresh.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      await fresh.waitForTimeout(1000); // past the typed filters' pause
      expect(asked, path).toHaveLength(1);
    }
    asked.length = 0;
    await fresh.getByTestId('session-search').fill('grace');
    await expect.poll(() => asked.length).toBe(1);
    await fresh.waitForTimeout(1000);
    expect(asked).toHaveLength(1);
    expect(new URL(asked[0]!, server.url).searchParams.get('q')).toBe('grace');
    await context.close();
  });
});
