import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { createTestUser } from '../helpers/clients.ts';
import { screenshots, shootBoth, signInPage } from '../helpers/console.ts';
import { insertUsers } from '../helpers/database.ts';
import { useTestServer } from '../helpers/server.ts';

describe.skipIf(!chromiumPath)('the console, with several admins at once', () => {
  const server = useTestServer({ web: true, env: { ENABLE_PUBLIC_SHARING: 'true' } });
  let browser: Browser;
  let pageA: Page;
  let pageB: Page;
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'admin', username: 'brian', display_name: 'Brian Kernighan', password });
    await createTestUser(server, { role: 'moderator', username: 'mona', display_name: 'Mona Moderator', password });
    for (const [username, display_name] of [
      ['zeta.one', 'Zeta One'],
      ['zeta.two', 'Zeta Two'],
      ['zeta.three', 'Zeta Three'],
      ['grace', 'Grace Hopper'],
      ['linus', 'Linus Torvalds'],
    ]) {
      await createTestUser(server, { username, display_name, password });
    }
    browser = await launchBrowser();
    pageA = (await signInPage(browser, server, 'ada', password)).page;
    pageB = (await signInPage(browser, server, 'brian@example.com', password)).page;
  });
  afterAll(async () => {
    await browser?.close();
  });

  const row = (page: Page, username: string) => page.locator(`tr[data-user="${username}"]`);

  /**
   * Notes, in the page, every user whose row is highlighted as changed (`.flash`, 1.6 s) from now
   * on; `flashed(username)` says whether theirs was. Polling the class instead misses a highlight
   * that ended before a slow machine looked.
   */
  async function watchFlashes(page: Page) {
    await page.evaluate(() => {
      const seen = new Set<string>();
      (window as unknown as { flashed: Set<string> }).flashed = seen;
      const note = (node: Node) => {
        if (node instanceof HTMLElement && node.matches('tr[data-user].flash')) seen.add(node.dataset.user!);
      };
      new MutationObserver((records) => {
        for (const record of records) {
          note(record.target);
          record.addedNodes.forEach((added) => {
            note(added);
            if (added instanceof HTMLElement) added.querySelectorAll('tr[data-user].flash').forEach(note);
          });
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['class'] });
    });
    return (username: string) => page.evaluate((name) => (window as unknown as { flashed: Set<string> }).flashed.has(name), username);
  }


  test('A creates a user; B\'s table row and stats update without a reload', async () => {
    await expect.poll(() => pageB.getByTestId('stat-total').textContent()).toMatch(/^\d+$/);
    const totalBefore = Number(await pageB.getByTestId('stat-total').textContent());
    const flashed = await watchFlashes(pageB);
    await pageA.getByRole('button', { name: 'Add user' }).click();
    const dialog = pageA.getByRole('dialog');
    await dialog.getByLabel('Username').fill('newbie');
    await dialog.getByLabel('Display name').fill('New Bie');
    await dialog.getByLabel('Email').fill('newbie@example.com');
    await shootBoth(pageA, 'add-user');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => dialog.getByTestId('generated-password').textContent()).toMatch(/^[\w-]{20}$/);
    await shootBoth(pageA, 'add-user-created');
    await dialog.getByRole('button', { name: 'Done' }).click();

    await row(pageB, 'newbie').waitFor();
    await expect.poll(() => pageB.getByTestId('stat-total').textContent()).toBe(String(totalBefore + 1));
    expect(await flashed('newbie'), "B's new row was highlighted").toBe(true);
    await shootBoth(pageB, 'users');
  });

  test('search narrows the table as you type, and lives in the URL', async () => {
    await pageB.keyboard.press('/');
    await pageB.keyboard.type('zeta');
    await pageB.waitForURL(/q=zeta/);
    await expect.poll(() => pageB.locator('tbody tr[data-user]').count()).toBe(3);
    await expect.poll(() => pageB.getByTestId('user-count').textContent()).toBe('3 users');
    await pageB.reload();
    await expect.poll(() => pageB.locator('tbody tr[data-user]').count()).toBe(3);
    await pageB.getByTestId('user-search').fill('');
    await pageB.waitForURL((url) => !url.search.includes('q='));
  });

  test('A and B edit the same user: B sees the conflict and nothing is overwritten', async () => {
    await row(pageA, 'grace').locator('button.name').click();
    await row(pageB, 'grace').locator('button.name').click();
    const drawerA = pageA.getByRole('dialog');
    const drawerB = pageB.getByRole('dialog');
    await drawerB.getByLabel('Display name').fill('Grace B. Hopper');
    // A sees that B is editing.
    await expect.poll(() => drawerA.getByTestId('panel-presence').textContent()).toMatch(/Brian Kernighan is editing/);
    await shootBoth(pageA, 'user-drawer');

    await drawerA.getByLabel('Display name').fill('Admiral Grace Hopper');
    await drawerA.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => drawerB.getByTestId('conflict').textContent()).toMatch(/ada\s+changed display name/);
    await shootBoth(pageB, 'user-conflict');
    expect(await drawerB.getByRole('button', { name: 'Save changes' }).isDisabled()).toBe(true);
    const [stored] = await server.sql`SELECT display_name FROM users WHERE username = 'grace'`;
    expect(stored!.display_name).toBe('Admiral Grace Hopper');

    // Keeping one's edits is a deliberate choice, made with the newer version in hand.
    await drawerB.getByRole('button', { name: 'Keep my edits' }).click();
    await drawerB.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(async () => (await server.sql`SELECT display_name FROM users WHERE username = 'grace'`)[0]!.display_name).toBe('Grace B. Hopper');
    await pageA.keyboard.press('Escape');
    await pageB.keyboard.press('Escape');
  });

  test('A deactivates a signed-in user: their page lands on sign-in with the reason', async () => {
    const { page: pageC } = await signInPage(browser, server, 'linus', password);
    await pageC.waitForURL(/\/account/);
    await shootBoth(pageC, 'account');
    await row(pageA, 'linus').getByRole('button', { name: 'Actions for Linus Torvalds' }).click();
    await pageA.getByRole('menuitem', { name: 'Deactivate' }).click();
    await pageC.waitForURL(/\/login\?reason=deactivated/, { timeout: 5000 });
    await expect.poll(() => pageC.getByRole('status').first().textContent()).toMatch(/Your account was deactivated/);
    await shootBoth(pageC, 'login-deactivated');
    await expect.poll(() => row(pageB, 'linus').textContent()).toMatch(/inactive/);
  });

  test('bulk deactivate of 3 users shows progress and a result per user', async () => {
    await pageA.getByTestId('user-search').fill('zeta');
    await expect.poll(() => pageA.locator('tbody tr[data-user]').count()).toBe(3);
    for (const name of ['Zeta One', 'Zeta Two', 'Zeta Three']) await pageA.getByLabel(`Select ${name}`).check();
    await pageA.getByRole('region', { name: 'Bulk actions' }).getByRole('button', { name: 'Deactivate' }).click();
    const dialog = pageA.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Deactivate 3' }).click();
    await expect.poll(() => dialog.getByTestId('bulk-summary').textContent()).toMatch(/3 succeeded/);
    expect(await dialog.getByTestId('bulk-progress').locator('progress').getAttribute('value')).toBe('3');
    await shootBoth(pageA, 'bulk-result');
    await dialog.getByRole('button', { name: 'Done' }).click();
    const statuses = await server.sql`SELECT status FROM users WHERE username LIKE 'zeta.%'`;
    expect(statuses.map((r) => r.status)).toEqual(['inactive', 'inactive', 'inactive']);
    await expect.poll(() => pageB.locator('tr[data-user^="zeta"]').filter({ hasText: 'inactive' }).count()).toBe(3);
    await pageA.getByTestId('user-search').fill('');
  });

  test('a moderator sees no write controls', async () => {
    const { page } = await signInPage(browser, server, 'mona', password);
    await page.waitForURL(/\/users/);
    await row(page, 'grace').waitFor();
    expect(await page.getByRole('button', { name: 'Add user' }).count()).toBe(0);
    expect(await page.locator('tbody input[type=checkbox]').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Actions for/ }).count()).toBe(0);
    await row(page, 'grace').getByRole('button', { name: 'View' }).click();
    const drawer = page.getByRole('dialog');
    // Read-only is shown as text, not as fields that look editable.
    await drawer.getByTestId('user-facts').getByText('grace@example.com').waitFor();
    expect(await drawer.locator('input, select, textarea').count()).toBe(0);
    expect(await drawer.getByRole('button', { name: 'Save changes' }).count()).toBe(0);
    expect(await drawer.getByRole('button', { name: 'Delete user' }).count()).toBe(0);
    await page.keyboard.press('Escape');
    expect(await page.getByRole('link', { name: 'Sessions' }).count()).toBe(0);
  });

  test('keyboard only: create a user without the mouse', async () => {
    const { page } = await signInPage(browser, server, 'ada', password);
    await page.waitForURL(/\/users/);
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'Add user');
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.keyboard.type('keys.only');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Keys Only');
    await page.keyboard.press('Tab');
    await page.keyboard.type('keys.only@example.com');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('generated-password').count()).toBe(1);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    await row(page, 'keys.only').waitFor();
  });

  test('sessions and audit log pages are live', async () => {
    await pageA.getByRole('link', { name: 'Sessions' }).click();
    await pageA.waitForURL(/\/sessions/);
    await pageA.locator('tr[data-session]').first().waitFor();
    const before = await pageA.locator('tr[data-session]').count();
    await signInPage(browser, server, 'grace', password);
    await expect.poll(() => pageA.locator('tr[data-session]').count()).toBe(before + 1);
    await shootBoth(pageA, 'sessions');

    await pageA.getByRole('link', { name: 'Audit log' }).click();
    await pageA.waitForURL(/\/audit/);
    await pageA.locator('li[data-action]').first().waitFor();
    await pageB.getByRole('link', { name: 'Users' }).click();
    await row(pageB, 'mona').locator('button.name').click();
    await pageB.getByRole('dialog').getByLabel('Display name').fill('Mona M.');
    await pageB.getByRole('dialog').getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => pageA.locator('li[data-action="user.updated"]').first().textContent()).toMatch(/Mona Moderator\s*→\s*Mona M\./);
    await shootBoth(pageA, 'audit');
  });

  test('a dropped connection keeps the data on screen and catches up on reconnect', async () => {
    const { context, page } = await signInPage(browser, server, 'brian', password);
    await page.waitForURL(/\/users/);
    await row(page, 'grace').waitFor();
    // Record every state the indicator shows.
    await page.evaluate(() => {
      const seen: string[] = ((window as any).connectionStates = []);
      const indicator = document.querySelector('[data-testid="connection"]')!;
      new MutationObserver(() => seen.push(indicator.textContent!.trim())).observe(indicator, { subtree: true, characterData: true, childList: true });
    });
    // Cut every transport, as a network failure would (not a sign-out: the sessions stay valid).
    for (const client of Object.values((server.live.io.engine as any).clients)) (client as any).transport.socket.terminate();
    await createTestUser(server, { username: 'while-away', display_name: 'While Away' });
    expect(await row(page, 'grace').count()).toBe(1);
    await row(page, 'while-away').waitFor({ timeout: 15_000 });
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    expect(await page.evaluate(() => (window as any).connectionStates)).toContain('Reconnecting…');
    await context.close();
  });

  test('the table is virtualised and loads more as you scroll', async () => {
    await insertUsers(server.sql, 'bulk', 400, { spacedBy: 'created_at' });
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await page.waitForURL(/\/users/);
    await expect.poll(() => page.getByTestId('user-count').textContent()).toMatch(/^4\d\d users$/);
    expect(await page.locator('tbody tr[data-user]').count()).toBeLessThan(40);
    const wrap = page.locator('.table-wrap');
    // Each page loads when the end of the table comes into view, so scroll until the last row is there.
    await expect
      .poll(
        async () => {
          await wrap.evaluate((el) => el.scrollTo(0, el.scrollHeight));
          return row(page, 'bulk400').count();
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(1);
    expect(await page.locator('tbody tr[data-user]').count()).toBeLessThan(40);
    await context.close();
  });


  test('narrow screens: the users page at 390 px', async () => {
    const { page } = await signInPage(browser, server, 'brian', password, { width: 390 });
    await page.waitForURL(/\/users/);
    await row(page, 'grace').waitFor();
    await shootBoth(page, 'users-mobile');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
