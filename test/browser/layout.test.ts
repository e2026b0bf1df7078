import { mkdir } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { clippedControls, horizontalOverflow, screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

// Issue 12, "Layout": every width from 390 px up, with long names, nothing cut off or spilling.

const longName = 'Maximiliana Wilhelmina Ottilie von und zu Hohenzollern-Sigmaringen';
const longUsername = 'maximiliana.wilhelmina.von.hohenzollern-sigmarin';
const longEmail = 'maximiliana.wilhelmina.ottilie.von.und.zu.hohenzollern@departement-des-relations-internationales.example.com';

describe.skipIf(!chromiumPath)('console layout at every width', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  const password = 'correct horse battery';
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    const ada = await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'moderator', username: 'mona', display_name: 'Mona Moderator', password });
    const long = await createTestUser(server, { username: longUsername, display_name: longName, email: longEmail, password, token_budget: 1_000_000 });
    await server.sql`
      INSERT INTO users (username, display_name, email, password_hash, created_at)
      SELECT 'filler' || n, 'Filler Person With A Longish Name ' || n, 'filler' || n || '@a-rather-long-domain-name.example.com', 'x', now() - n * interval '1 minute'
      FROM generate_series(1, 150) n`;
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const key = (await admin.post('/api/v1/api-keys', { name: 'host', system: true })).body.key as string;
    const host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
    await host.post('/api/v1/usage', { user_id: long.id, meter: 'tokens', amount: 850_000, source: 'gpt' });
    await host.post('/api/v1/usage', { user_id: ada.id, meter: 'minutes', amount: 42, source: 'whisper' });
    const project = await admin.post('/api/v1/projects', { name: 'A project with quite a long name for a narrow screen', owner_id: long.id, member_ids: [ada.id] });
    await admin.patch(`/api/v1/projects/${project.body.project?.id ?? project.body.id}`, { size_bytes: 1.5 * 1024 ** 3 });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function open(login: string, width: number): Promise<{ page: Page; problems: string[] }> {
    const { context, page } = await signInPage(browser, server, login, password, { width });
    contexts.push(context);
    return { page, problems: watchProblems(page) };
  }

  test.each([1280, 390])('the Add user dialog fits its box at %i px', async (width) => {
    const { page } = await open('ada', width);
    await page.getByRole('button', { name: 'Add user' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add user' });
    await dialog.getByLabel('Username').waitFor();
    const overflow = await dialog.evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await clippedControls(page, '.modal-content')).toEqual([]);
    if (width === 1280) await shootBoth(page, 'add-user');
  });

  test.each([1440, 1280])('the users table at %i px with long names: fixed columns, cut text with the full value on hover, the row menu in view', async (width) => {
    const { page, problems } = await open('ada', width);
    const row = page.locator(`tr[data-user="${longUsername}"]`);
    await row.waitFor();
    const wrap = page.locator('.table-wrap');
    expect(await wrap.evaluate((el) => el.scrollWidth - el.clientWidth)).toBeLessThanOrEqual(0);
    expect(await clippedControls(page, '.table-wrap')).toEqual([]);
    await row.getByRole('button', { name: `Actions for ${longName}` }).waitFor();
    // One line for the name and one for the username, cut with an ellipsis; all of it on hover.
    const name = row.locator('.name-text strong');
    expect((await name.boundingBox())!.height).toBeLessThan(26);
    expect(await row.locator('button.name').getAttribute('title')).toBe(`${longName} (@${longUsername})`);
    expect(await row.locator('.col-email').getAttribute('title')).toBe(longEmail);
    await shootBoth(page, `users-long-names-${width}`);

    // Column widths stay put while the virtual list scrolls.
    const widths = () => page.locator('thead th').evaluateAll((cells) => cells.map((c) => Math.round(c.getBoundingClientRect().width)));
    const before = await widths();
    for (const top of [2000, 5000, 1000]) {
      await wrap.evaluate((el, y) => el.scrollTo(0, y), top);
      await page.waitForTimeout(80);
      expect(await widths()).toEqual(before);
    }
    expect(problems).toEqual([]);
  });

  test('at 390 px every page fits: the nav shows every section, no button is cut, nothing scrolls sideways', async () => {
    const { page, problems } = await open('ada', 390);
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const label of ['Users', 'Projects', 'Statistics', 'Sessions', 'Audit log', 'Account']) {
      const link = nav.getByRole('link', { name: label });
      const box = (await link.boundingBox())!;
      expect(box.x, label).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, label).toBeLessThanOrEqual(390);
    }
    for (const path of ['/users', '/projects', '/stats', '/sessions', '/audit', '/account']) {
      await page.goto(`${server.url}${path}`);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      await page.locator('h1').first().waitFor();
      if (path === '/sessions') await page.locator('tr[data-session]').first().waitFor();
      if (path === '/projects') await page.locator('tr[data-project]').first().waitFor();
      if (path === '/stats') await page.getByTestId('top-consumers').getByText(longName).waitFor();
      expect(await horizontalOverflow(page), path).toBeLessThanOrEqual(0);
      expect(await clippedControls(page), path).toEqual([]);
      if (path === '/stats') {
        const spill = await page.getByTestId('top-consumers').evaluate((table) => table.getBoundingClientRect().right - table.closest('.card')!.getBoundingClientRect().right);
        expect(spill).toBeLessThanOrEqual(0);
      }
      await shootBoth(page, `narrow${path.replace('/', '-')}`);
    }
    expect(problems).toEqual([]);
  });

  test('stat card numbers line up', async () => {
    const { page } = await open('ada', 1280);
    await expect.poll(() => page.getByTestId('stat-total').textContent()).toMatch(/^\d+$/);
    const tops = await page.locator('[data-testid^="stat-"]').evaluateAll((values) => values.map((v) => Math.round(v.getBoundingClientRect().top)));
    expect(new Set(tops).size).toBe(1);
  });

  test('the delete confirmation dims the drawer; Export JSON is a button among buttons', async () => {
    const { page } = await open('ada', 1280);
    await page.locator(`tr[data-user="${longUsername}"] button.name`).click();
    const drawer = page.getByRole('dialog', { name: longName, exact: true });
    const exportLink = drawer.getByRole('link', { name: 'Export JSON' });
    const remove = drawer.getByRole('button', { name: 'Delete user' });
    const look = (el: Element) => {
      const style = getComputedStyle(el);
      return { decoration: style.textDecorationLine, height: Math.round(el.getBoundingClientRect().height), weight: style.fontWeight, radius: style.borderRadius };
    };
    const exportLook = await exportLink.evaluate(look);
    expect(exportLook.decoration).toBe('none');
    expect(exportLook).toEqual({ ...(await remove.evaluate(look)), decoration: 'none' });

    await remove.click();
    await page.getByRole('dialog', { name: `Delete ${longName}?` }).waitFor();
    const box = (await drawer.boundingBox())!;
    const onTop = await page.evaluate(([x, y]) => document.elementFromPoint(x!, y!)?.className ?? '', [box.x + 12, box.y + 12]);
    expect(onTop).toMatch(/modal-overlay/);
    await shootBoth(page, 'user-delete');
    await page.keyboard.press('Escape');
  });

  test('charts: axes have titles; storage is marked in binary units', async () => {
    const { page, problems } = await open('ada', 1280);
    await page.getByRole('link', { name: 'Statistics' }).click();
    const usage = page.getByTestId('chart-usage-axes');
    await expect.poll(() => usage.textContent()).toMatch(/Tokens/);
    expect(await usage.textContent()).toMatch(/Minutes/);
    expect(await usage.textContent()).toMatch(/Month/);
    const storage = (await page.getByTestId('chart-storage-axes').textContent())!;
    expect(storage).toMatch(/\b(GiB|MiB)\b/);
    expect(storage).not.toMatch(/\b(GB|MB|KB)\b/);
    expect(storage).toMatch(/1\.5 GiB/);
    expect(await page.getByTestId('chart-days-axes').textContent()).toMatch(/Day/);
    expect(problems).toEqual([]);
  });
});
