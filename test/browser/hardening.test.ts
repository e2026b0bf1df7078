import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { signInPage } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

describe.skipIf(!chromiumPath)('the console under its security headers', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  const password = 'correct horse battery';
  const payload = '<img src=x onerror=alert(1)>';

  beforeAll(async () => {
    const root = await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    const evil = await createTestUser(server, { username: 'mallory', display_name: payload, password });
    const client = new ApiClient(server);
    await client.signIn(root.username, password);
    await client.post('/api/v1/projects', { name: '<script>alert(2)</script>', owner_id: evil.id, member_ids: [] });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('every page works under the Content-Security-Policy, and user-controlled strings render as text', async () => {
    const { page } = await signInPage(browser, server, 'ada', password);
    const violations: string[] = [];
    const dialogs: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    const response = await page.goto(`${server.url}/users`);
    expect(response!.headers()['content-security-policy']).toMatch(/frame-ancestors 'none'/);

    const row = page.locator('tr[data-user="mallory"]');
    await row.waitFor();
    expect(await row.locator('button.name strong').textContent()).toBe(payload);
    await row.locator('button.name').click();
    await expect.poll(() => page.getByRole('dialog').locator('.modal-title').textContent()).toBe(payload);
    await page.keyboard.press('Escape');

    for (const path of ['/projects', '/stats', '/sessions', '/audit', '/account']) {
      await page.goto(`${server.url}${path}`);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    }
    await page.goto(`${server.url}/projects`);
    await expect.poll(() => page.locator('tr[data-project] strong').first().textContent()).toBe('<script>alert(2)</script>');
    await page.goto(`${server.url}/audit`);
    await expect.poll(() => page.locator('li[data-action="user.created"]').filter({ hasText: 'mallory' }).count()).toBe(1);

    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(violations).toEqual([]);
  });

  test('the console cannot be framed', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const frameBlocked: string[] = [];
    page.on('console', (message) => frameBlocked.push(message.text()));
    await page.setContent(`<iframe src="${server.url}/login" id="frame"></iframe>`);
    await page.waitForTimeout(1000);
    const frame = page.frames().find((f) => f.url().startsWith(server.url));
    const content = frame ? await frame.content().catch(() => '') : '';
    expect(content).not.toContain('Sign in');
    await context.close();
  });
});
