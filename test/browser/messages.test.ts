import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

// Issue 12, "Dead ends and messages": pages a role cannot open, unknown paths, sign-in that
// remembers where one was going, errors that go once fixed, come at once, and read as words.

describe.skipIf(!chromiumPath)('console dead ends and messages', () => {
  const server = useTestServer({ web: true, env: { LOGIN_MAX_FAILURES: '3' } });
  let browser: Browser;
  let admin: Page;
  const password = 'correct horse battery';
  let carolId: string;

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'moderator', username: 'mona', display_name: 'Mona Moderator', password });
    carolId = (await createTestUser(server, { username: 'carol', display_name: 'Carol Shaw', password })).id;
    await createTestUser(server, { username: 'taken', display_name: 'Taken Name', password });
    browser = await launchBrowser();
    admin = (await signInPage(browser, server, 'ada', password)).page;
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('a plain user who opens a staff page gets one clear no-access page', async () => {
    const { context, page } = await signInPage(browser, server, 'carol', password);
    const problems = watchProblems(page);
    for (const path of ['/users', '/audit', '/stats', '/sessions']) {
      await page.goto(`${server.url}${path}`);
      const notice = page.getByTestId('page-notice');
      await notice.getByRole('heading', { name: /No access/ }).waitFor();
      await notice.getByRole('link', { name: 'Go to your account' }).waitFor();
      expect(await page.getByRole('alert').count(), path).toBe(0);
      expect(await page.getByText('Loading…').count(), path).toBe(0);
    }
    await shootBoth(page, 'no-access');
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await page.waitForURL(/\/account$/);
    expect(problems).toEqual([]);
    await context.close();
  });

  test('a moderator who opens the sessions page is told the same, not shown an error', async () => {
    const { context, page } = await signInPage(browser, server, 'mona', password);
    const problems = watchProblems(page);
    await page.goto(`${server.url}/sessions`);
    await page.getByTestId('page-notice').getByRole('link', { name: 'Go to Users' }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  test('an unknown page keeps the console\'s frame and offers a way back', async () => {
    await admin.goto(`${server.url}/no/such/page`);
    await admin.getByRole('heading', { name: 'Page not found' }).waitFor();
    expect(await admin.getByRole('navigation', { name: 'Main' }).isVisible()).toBe(true);
    await shootBoth(admin, 'not-found');
    await admin.getByRole('link', { name: 'Go to Users' }).click();
    await admin.waitForURL(/\/users$/);
  });

  test('sign-in returns to where you were going; /login while signed in goes on', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(8000);
    const page = await context.newPage();
    await page.goto(`${server.url}/audit?action=user.created`);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Email or username').fill('mona');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/audit?action=user.created`);
    await page.locator('li[data-action="user.created"]').first().waitFor();

    await page.goto(`${server.url}/login?next=${encodeURIComponent('/projects')}`);
    await page.waitForURL(`${server.url}/projects`);
    // Only paths of this console: another site is never where sign-in goes on to.
    await page.goto(`${server.url}/login?next=${encodeURIComponent('//example.com/x')}`);
    await page.waitForURL(`${server.url}/users`);
    await context.close();
  });

  test('an invalid session cookie leads to sign-in that says why', async () => {
    const { context, page } = await signInPage(browser, server, 'carol', password);
    await context.addCookies([{ name: 'roster_session', value: 'not-a-valid-token', url: server.url }]);
    await page.goto(`${server.url}/projects`);
    await page.waitForURL(/\/login\?/);
    await page.getByRole('status').filter({ hasText: /session has ended/ }).waitFor();
    await page.getByLabel('Email or username').fill('carol');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/projects`);
    await context.close();
  });

  test('a field\'s error goes once the field is changed (account email, new project name)', async () => {
    await admin.getByRole('link', { name: 'Account' }).click();
    const email = admin.getByLabel('Email');
    await email.fill('not an email');
    await admin.getByRole('button', { name: 'Save profile' }).click();
    await admin.getByText('Email is not a valid address').waitFor();
    await email.fill('ada.new@example.com');
    expect(await admin.getByText('Email is not a valid address').count()).toBe(0);
    await email.fill('ada@example.com');

    await admin.getByRole('link', { name: 'Projects' }).click();
    await admin.getByRole('button', { name: 'New project' }).click();
    const dialog = admin.getByRole('dialog', { name: 'New project' });
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await dialog.getByText('Name is required').waitFor();
    // No technical words: the owner is asked for as a person would.
    expect(await dialog.textContent()).not.toMatch(/owner_id|user id/);
    await dialog.getByText(/Choose the owner from the list/).waitFor();
    await dialog.getByLabel('Name').fill('Field notes');
    expect(await dialog.getByText('Name is required').count()).toBe(0);
    await dialog.getByLabel('Owner').fill('carol');
    await dialog.getByTestId('picked-user').waitFor();
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await admin.locator('tr[data-project="Field notes"]').waitFor();
  });

  test('Add user reports every problem at once: format and a taken username together', async () => {
    await admin.getByRole('link', { name: 'Users' }).click();
    await admin.getByRole('button', { name: 'Add user' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Add user' });
    await dialog.getByLabel('Username').fill('taken');
    await dialog.getByLabel('Display name').fill('Someone Else');
    await dialog.getByLabel('Email').fill('not-an-email');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await dialog.getByText('Email is not a valid address').waitFor();
    await dialog.getByText(/username is taken/i).waitFor();
    await shootBoth(admin, 'add-user-errors');
    await admin.keyboard.press('Escape');
  });

  test('rate-limited sign-in says when to try again, also when a proxy answers 429 without words', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(8000);
    const page = await context.newPage();
    await page.goto(`${server.url}/login`);
    for (let i = 0; i < 4; i++) {
      await page.getByLabel('Email or username').fill('nobody-here');
      await page.getByLabel('Password').fill('wrong password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
    }
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/try again in \d+ minutes?/);

    await page.route('**/api/v1/auth/login', (route) => route.fulfill({ status: 429, headers: { 'retry-after': '120' }, body: 'Too Many Requests' }));
    await page.getByLabel('Password').fill('another wrong one');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/try again in 2 minutes/);
    await context.close();
  });

  test('the audit log reads as sentences, with the amount for usage; its filters are words and live in the URL', async () => {
    const client = new ApiClient(server);
    await client.signIn('ada', password);
    const key = (await client.post('/api/v1/api-keys', { name: 'host', system: true })).body.key as string;
    const host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
    await host.post('/api/v1/usage', { user_id: carolId, meter: 'tokens', amount: 12_345, source: 'gpt' });

    await admin.goto(`${server.url}/audit`);
    const log = admin.getByRole('list', { name: 'Audit entries' });
    await log.locator('li[data-action="usage.recorded"]').first().waitFor();
    const text = (await log.textContent())!;
    expect(text).not.toMatch(/\b(user|session|api_key|auth|project|usage)\.[a-z_]+\b/);
    expect(await log.locator('li[data-action="usage.recorded"]').first().textContent()).toMatch(/12,345 tokens/);
    expect(await log.locator('li[data-action="project.created"]').first().textContent()).toMatch(/created the project\s+Field notes/);

    const options = await admin.getByLabel('Filter by action').locator('option').allTextContents();
    expect(options.some((o) => /\./.test(o))).toBe(false);
    await admin.getByLabel('Filter by action').selectOption({ label: 'Usage reported' });
    await admin.waitForURL(/action=usage.recorded/);

    await admin.getByLabel('Filter by action').selectOption({ label: 'All actions' });
    await log.locator('li[data-action="user.created"]').first().waitFor();
    await log.locator('li[data-action="session.created"]').filter({ hasText: /^\s*ada signed in/ }).first().getByRole('button', { name: 'ada', exact: true }).click();
    await admin.waitForURL(/actor=/);
    await admin.reload();
    await admin.getByRole('button', { name: /Remove actor filter/ }).waitFor();
    await expect.poll(() => admin.getByRole('button', { name: /Remove actor filter/ }).textContent()).toMatch(/Actor: ada/);
    expect(await log.locator('li[data-action]').evaluateAll((entries) => entries.every((e) => /^\s*ada\b/.test(e.textContent ?? '')))).toBe(true);
    await shootBoth(admin, 'audit-filtered');
  });
  // A search whose answer fails must not leave the rows of the search before under the new filters,
  // looking like its result; the failure says so and offers to try again.
  test('a users search or sessions filter that fails shows the failure, not the rows before; Try again loads it', async () => {
    const { page, context } = await signInPage(browser, server, 'ada', password);
    const unavailable = { status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'The database is unavailable; try again shortly' } }) };
    const rows = page.locator('tbody tr[data-user]');
    await page.goto(`${server.url}/users`);
    await page.locator('tr[data-user="carol"]').waitFor();
    await page.route(/\/api\/v1\/users\?/, (route) => route.fulfill(unavailable));
    await page.getByTestId('user-search').fill('mona');
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/database is unavailable/);
    expect(await rows.count()).toBe(0);
    expect(await page.getByTestId('user-count').count()).toBe(0);
    // A user who matches, created meanwhile, does not appear under the failure either.
    await createTestUser(server, { username: 'mona.two', display_name: 'Mona Two', password });
    await page.waitForTimeout(500);
    expect(await rows.count()).toBe(0);
    await shootBoth(page, 'users-search-failed');
    await page.unroute(/\/api\/v1\/users\?/);
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-user')))).toEqual(['mona.two', 'mona']);
    expect(await page.getByRole('alert').count()).toBe(0);

    await page.goto(`${server.url}/sessions`);
    const sessions = page.locator('tbody tr[data-session]');
    await expect.poll(() => sessions.count()).toBeGreaterThan(0);
    await page.route(/\/api\/v1\/sessions\?/, (route) => route.fulfill(unavailable));
    await page.getByTestId('session-search').fill('ada');
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/database is unavailable/);
    await shootBoth(page, 'sessions-filter-failed');
    await page.unroute(/\/api\/v1\/sessions\?/);
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => sessions.count()).toBeGreaterThan(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await context.close();
  });
});
