import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { screenshots, settles, signInPage, watchProblems } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';
import { enrolTotp, totpCode } from '../helpers/totp.ts';

// The page staff past their grace period must set up two-factor sign-in on (REQUIRE_2FA_FOR_STAFF),
// while the same person does it in another tab (here the API, signed in as them): the page follows
// what a reload would show instead of refusing the code as wrong.
describe.skipIf(!chromiumPath)('the forced two-factor setup page follows another tab', () => {
  const server = useTestServer({ web: true, env: { REQUIRE_2FA_FOR_STAFF: 'true', REQUIRE_2FA_GRACE_DAYS: '3' } });
  const password = 'correct horse battery';
  let browser: Browser;

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A moderator past their grace period, on the setup page in a browser and signed in through the API as their other tab. */
  async function overdue(username: string) {
    await createTestUser(server, { role: 'moderator', username, display_name: `${username} Mod`, password });
    const other = new ApiClient(server);
    await other.signIn(username, password);
    await server.sql`UPDATE users SET two_factor_due_at = now() - interval '1 second' WHERE username = ${username}`;
    const { context, page } = await signInPage(browser, server, username, password, { live: false });
    await page.waitForURL('**/set-up-two-factor');
    return { context, page, other };
  }

  /** Starts setting up on the page; returns the key it shows. */
  async function start(page: Page): Promise<string> {
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    return (await page.getByTestId('totp-secret').innerText()).replace(/\s/g, '');
  }

  async function typeCode(page: Page, secret: string) {
    await page.getByLabel('Code from the app').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
  }

  test('started again in another tab: the code typed here is not called wrong; the page says why and starts over', async () => {
    const { context, page, other } = await overdue('sid');
    const problems = watchProblems(page, [/Failed to load resource/]);
    const secret = await start(page);
    expect((await other.post('/api/v1/me/two-factor')).status).toBe(200); // replaces the key this page shows
    await typeCode(page, secret);
    const told = await settles(() => page.getByText('started again in another tab or browser').waitFor({ timeout: 5000 }));
    const wrong = await page.getByText('The code is wrong').count();
    await page.screenshot({ path: `${screenshots}/two-factor-setup-replaced-elsewhere.png` });
    expect({ told, wrong }, 'a replaced key is told apart from a wrong code').toEqual({ told: true, wrong: 0 });

    // Starting over here works, with a key of its own.
    const again = await start(page);
    expect(again).not.toBe(secret);
    await typeCode(page, again);
    await page.getByTestId('recovery-codes').waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  test('set up in another tab while a key is shown here: the code typed here moves the page on, as a reload would', async () => {
    const { context, page, other } = await overdue('sue');
    const secret = await start(page);
    await enrolTotp(other);
    await typeCode(page, secret);
    const movedOn = await settles(() => page.waitForURL((url) => !url.pathname.startsWith('/set-up-two-factor'), { timeout: 5000 }));
    const told = await settles(() => page.getByText('set up in another tab or browser').waitFor({ timeout: 2000 }));
    expect({ movedOn, told }).toEqual({ movedOn: true, told: true });
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor(); // the console, live
    await page.locator('tr[data-user]').first().waitFor();
    await page.screenshot({ path: `${screenshots}/two-factor-setup-done-elsewhere.png` });
    await context.close();
  });

  test('set up in another tab: coming back to this one moves it on, as a reload would', async () => {
    const { context, page, other } = await overdue('sal');
    await page.getByRole('button', { name: 'Set up an authenticator app' }).waitFor();
    // The user goes to another tab and sets it up there. Headless Chromium shows every tab as visible,
    // so this tab is hidden and shown again as the browser would tell it.
    const visibility = (state: 'hidden' | 'visible') =>
      page.evaluate((to) => {
        Object.defineProperty(document, 'visibilityState', { value: to, configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    await visibility('hidden');
    await enrolTotp(other);
    await visibility('visible');
    const movedOn = await settles(() => page.waitForURL((url) => !url.pathname.startsWith('/set-up-two-factor'), { timeout: 5000 }));
    const told = await settles(() => page.getByText('set up in another tab or browser').waitFor({ timeout: 2000 }));
    expect({ movedOn, told }, 'back in this tab, it shows what a reload shows').toEqual({ movedOn: true, told: true });
    await context.close();
  });
});
