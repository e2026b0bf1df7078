import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { screenshots, shootBoth, signInPage } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

describe.skipIf(!chromiumPath)('usage, budgets, projects and statistics in the console', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  let admin: Page;
  let host: ApiClient;
  const password = 'correct horse battery';
  let carol: Awaited<ReturnType<typeof createTestUser>>;

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    const root = await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    carol = await createTestUser(server, { username: 'carol', display_name: 'Carol Shaw', password, token_budget: 100_000, minute_budget: 10 });
    await createTestUser(server, { username: 'dan', display_name: 'Dan Bricklin', password });
    const rootClient = new ApiClient(server);
    await rootClient.signIn(root.username, password);
    host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${(await rootClient.post('/api/v1/api-keys', { name: 'host', system: true })).body.key}` } });
    browser = await launchBrowser();
    admin = (await signInPage(browser, server, 'ada', password)).page;
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('usage bars in the table turn yellow at 80 % and red at 100 %, live', async () => {
    const tokens = admin.locator('tr[data-user="carol"] [role="meter"][aria-label="tokens used"]');
    await tokens.waitFor();
    await host.post('/api/v1/usage', { user_id: carol.id, meter: 'tokens', amount: 85_000, source: 'gpt' });
    await expect.poll(() => tokens.getAttribute('aria-valuenow')).toBe('85');
    await expect.poll(() => admin.locator('tr[data-user="carol"] [data-state="warning"]').count()).toBe(1);
    await host.post('/api/v1/usage', { user_id: carol.id, meter: 'minutes', amount: 12, source: 'openai-whisper' });
    await expect.poll(() => admin.locator('tr[data-user="carol"] [data-state="blocked"]').count()).toBe(1);
    await shootBoth(admin, 'users-usage');
  });

  test('the user drawer shows usage and refuses an invalid budget under the field', async () => {
    await admin.locator('tr[data-user="carol"] button.name').click();
    const drawer = admin.getByRole('dialog');
    await expect.poll(() => drawer.getByTestId('panel-usage').textContent()).toMatch(/85K of 100K tokens/);
    await drawer.getByLabel('Monthly token budget').fill('105000');
    await drawer.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => drawer.getByText('Token budget must be in steps of 10,000').count()).toBe(1);
    // Text that is not a number is refused, never saved as "unlimited".
    await drawer.getByLabel('Monthly token budget').fill('lots');
    await drawer.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => drawer.getByText('Token budget must be a number or null').count()).toBe(1);
    expect((await server.sql`SELECT token_budget FROM users WHERE id = ${carol.id}`)[0]!.token_budget).toBe('100000');
    await drawer.getByLabel('Monthly token budget').fill('200000');
    await drawer.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => drawer.getByTestId('panel-usage').textContent()).toMatch(/85K of 200K tokens/);
    await shootBoth(admin, 'user-usage');
    await admin.keyboard.press('Escape');
  });

  test('projects: created in the console, shown live to their owner only', async () => {
    const { page: carolPage } = await signInPage(browser, server, 'carol', password);
    await carolPage.getByRole('link', { name: 'Projects' }).click();
    await carolPage.waitForURL(/\/projects/);
    const { page: danPage } = await signInPage(browser, server, 'dan', password);
    await danPage.getByRole('link', { name: 'Projects' }).click();

    await admin.getByRole('link', { name: 'Projects' }).click();
    await admin.getByRole('button', { name: 'New project' }).click();
    const dialog = admin.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Interview recordings');
    await dialog.getByLabel('Owner').fill('carol');
    await expect.poll(() => dialog.getByTestId('picked-user').textContent()).toMatch(/Carol Shaw/);
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await admin.locator('tr[data-project="Interview recordings"]').waitFor();
    await carolPage.locator('tr[data-project="Interview recordings"]').waitFor();
    await shootBoth(admin, 'projects');
    await danPage.waitForTimeout(500);
    expect(await danPage.locator('tr[data-project]').count()).toBe(0);
  });

  test('statistics: charts render and top consumers update live', async () => {
    await admin.getByRole('link', { name: 'Statistics' }).click();
    await admin.waitForURL(/\/stats/);
    await expect.poll(() => admin.getByTestId('top-consumers').textContent()).toMatch(/Carol Shaw/);
    expect(await admin.locator('canvas').count()).toBe(5);
    const dan = (await server.sql`SELECT id FROM users WHERE username = 'dan'`)[0]!;
    await host.post('/api/v1/usage', { user_id: dan.id, meter: 'tokens', amount: 1_000_000, source: 'gpt' });
    await expect.poll(() => admin.getByTestId('top-consumers').textContent(), { timeout: 5000 }).toMatch(/Dan Bricklin/);
    await admin.waitForTimeout(300);
    await shootBoth(admin, 'stats');
  });
});
