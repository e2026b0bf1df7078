import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { axeViolations, clippedControls, COLOUR_RULES, horizontalOverflow, screenshots, signInPage, watchProblems } from '../helpers/console.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';
import { enrolTotp } from '../helpers/totp.ts';

// Issue 12, "Proof": every page as admin, moderator and plain user, at 1440, 1280 and 390 px,
// light and dark: nothing scrolls sideways, no control is cut off, nothing is thrown or logged,
// and axe-core finds no serious or critical violation. One browser and one server; a context per
// role and width; the colour scheme changes in place. In the dark scheme axe runs its colour rules
// only: the scheme changes colours and nothing else, so the other rules would answer as in light.

const roles = [
  { role: 'admin', login: 'ada' },
  { role: 'moderator', login: 'mona' },
  { role: 'user', login: 'carol' },
] as const;
const widths = [1440, 1280, 390] as const;
const pages = ['/users', '/users/import', '/invitations', '/projects', '/stats', '/sessions', '/applications', '/audit', '/account', '/no-such-page'] as const;
/** Which pages each role may open; the others must show the no-access page. */
const opens: Record<(typeof roles)[number]['role'], (typeof pages)[number][]> = {
  admin: ['/users', '/users/import', '/invitations', '/projects', '/stats', '/sessions', '/applications', '/audit', '/account'],
  moderator: ['/users', '/projects', '/stats', '/audit', '/account'],
  user: ['/projects', '/account'],
};

/** axe's findings in a colour scheme: in dark, its colour rules only (the scheme changes colours alone). */
const axeIn = (page: Page, scheme: 'light' | 'dark') => axeViolations(page, scheme === 'dark' ? COLOUR_RULES : undefined);

/** Waits until the page shows its data (not "Loading…"), so the checks see what people see. */
async function settled(page: Page, path: string, open: boolean) {
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  if (!open || path === '/no-such-page') return page.getByTestId('page-notice').waitFor();
  const ready: Record<string, string> = {
    '/users': 'tr[data-user]',
    '/invitations': 'tr[data-invitation]',
    '/users/import': '[data-testid="import-file"]',
    '/projects': 'tr[data-project]',
    '/stats': '[data-testid="chart-storage-axes"]:not(:empty)',
    '/sessions': 'tr[data-session]',
    '/applications': 'tr[data-application]',
    '/audit': 'li[data-action]',
    '/account': 'section[aria-labelledby="sessions-title"] li',
  };
  await page.locator(ready[path]!).first().waitFor({ state: 'attached' });
}

describe.skipIf(!chromiumPath)('every page, every role, every width, light and dark', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    const ada = await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'moderator', username: 'mona', display_name: 'Mona Moderator', password });
    const carol = await createTestUser(server, { username: 'carol', display_name: 'Carol Shaw', password, token_budget: 1_000_000 });
    await createTestUser(server, {
      username: 'maximiliana.von.hohenzollern',
      display_name: 'Maximiliana Wilhelmina von und zu Hohenzollern-Sigmaringen',
      email: 'maximiliana.wilhelmina.von.und.zu.hohenzollern@departement-international.example.com',
      password,
    });
    for (const name of ['Grace Hopper', 'Linus Torvalds', 'Barbara Liskov', 'Ken Thompson']) {
      await createTestUser(server, { username: name.split(' ')[0]!.toLowerCase(), display_name: name, password });
    }
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const key = (await admin.post('/api/v1/api-keys', { name: 'host', system: true })).body.key as string;
    const host = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });
    await host.post('/api/v1/usage', { user_id: carol.id, meter: 'tokens', amount: 820_000, source: 'gpt' });
    await host.post('/api/v1/usage', { user_id: ada.id, meter: 'minutes', amount: 35, source: 'whisper' });
    const project = (await admin.post('/api/v1/projects', { name: 'Interview recordings', owner_id: carol.id, member_ids: [ada.id] })).body;
    await admin.patch(`/api/v1/projects/${project.id}`, { size_bytes: 700 * 1024 ** 2, item_count: 42 });
    await admin.post('/api/v1/projects', { name: 'Personas', owner_id: ada.id, member_ids: [] });
    await admin.post('/api/v1/applications', { name: 'Team wiki', redirect_uris: ['https://wiki.example.com/oidc/callback'], access: 'roles', allowed_roles: ['admin', 'moderator'] });
    await admin.post('/api/v1/applications', { name: 'Grafana dashboards', forward_auth_host: 'grafana.example.com' });
    await admin.post('/api/v1/invitations', { username: 'dorothy', display_name: 'Dorothy Vaughan', email: 'dorothy@example.com', role: 'moderator' });
    await admin.post('/api/v1/invitations', {
      username: 'bartholomew.featherstonehaugh',
      display_name: 'Bartholomew Featherstonehaugh-Cholmondeley',
      email: 'bartholomew.featherstonehaugh-cholmondeley@departement-international.example.com',
    });
    const carolClient = new ApiClient(server);
    await carolClient.signIn('carol', password);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const { role, login } of roles) {
    test.each(widths)(`${role} at %i px`, { timeout: 60_000 }, async (width) => {
      const { context, page } = await signInPage(browser, server, login, password, { width });
      const problems = watchProblems(page);
      const found: string[] = [];
      for (const path of pages) {
        await page.goto(`${server.url}${path}`);
        await settled(page, path, (opens[role] as string[]).includes(path));
        for (const scheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          const where = `${path} ${scheme}`;
          const overflow = await horizontalOverflow(page);
          if (overflow > 0) found.push(`${where}: scrolls sideways by ${overflow} px`);
          for (const cut of await clippedControls(page)) found.push(`${where}: ${cut}`);
          for (const violation of await axeIn(page, scheme)) found.push(`${where}: ${violation}`);
          if ((role === 'admin' && width !== 1280) || (role !== 'admin' && width === 390 && scheme === 'light')) {
            await page.screenshot({ path: `${screenshots}/sweep-${role}-${width}${path.replace(/\//g, '-')}-${scheme}.png` });
          }
        }
        await page.emulateMedia({ colorScheme: 'light' });
      }
      expect(found).toEqual([]);
      expect(problems).toEqual([]);
      await context.close();
    });
  }

  test('the pages outside the console: the sign-in code step and the two-factor setup page, every width, light and dark', { timeout: 60_000 }, async () => {
    await createTestUser(server, { username: 'tess', display_name: 'Tess Twofactor', password });
    const tess = new ApiClient(server);
    await tess.signIn('tess', password);
    await enrolTotp(tess);
    await createTestUser(server, { role: 'moderator', username: 'sam', display_name: 'Sam Staff', password });
    // Staff who must have two-factor sign-in, with no grace: the setup page is all they get.
    const strict = await startTestServer({ web: true, databaseUrl: server.databaseUrl, env: { REQUIRE_2FA_FOR_STAFF: 'true', REQUIRE_2FA_GRACE_DAYS: '0' } });
    try {
      const found: string[] = [];
      for (const width of widths) {
        const context = await browser.newContext({ viewport: { width, height: 800 } });
        context.setDefaultTimeout(8000);
        const page = await context.newPage();
        const problems = watchProblems(page);
        const views: [string, () => Promise<void>][] = [
          [
            'sign-in code step',
            async () => {
              await page.goto(`${server.url}/login`);
              await page.getByLabel('Email or username').fill('tess');
              await page.getByLabel('Password').fill(password);
              await page.keyboard.press('Enter');
              await page.getByLabel('Authentication code').waitFor();
            },
          ],
          [
            'set-up-two-factor',
            async () => {
              await page.goto(`${strict.url}/login`);
              await page.getByLabel('Email or username').fill('sam');
              await page.getByLabel('Password').fill(password);
              await page.keyboard.press('Enter');
              await page.waitForURL('**/set-up-two-factor');
              await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
              await page.getByTestId('totp-setup').waitFor();
            },
          ],
        ];
        for (const [name, open] of views) {
          await open();
          for (const scheme of ['light', 'dark'] as const) {
            await page.emulateMedia({ colorScheme: scheme });
            const where = `${name} ${width} ${scheme}`;
            const overflow = await horizontalOverflow(page);
            if (overflow > 0) found.push(`${where}: scrolls sideways by ${overflow} px`);
            for (const cut of await clippedControls(page)) found.push(`${where}: ${cut}`);
            for (const violation of await axeIn(page, scheme)) found.push(`${where}: ${violation}`);
            if (width === 390) await page.screenshot({ path: `${screenshots}/sweep-${name.replace(/ /g, '-')}-${width}-${scheme}.png`, fullPage: true });
          }
          await page.emulateMedia({ colorScheme: 'light' });
        }
        expect(problems).toEqual([]);
        await context.close();
      }
      expect(found).toEqual([]);
    } finally {
      await strict.close();
    }
  });

  test('dialogs and the drawer pass axe too (admin, 1280 px, light and dark)', async () => {
    const { context, page } = await signInPage(browser, server, 'ada', password);
    const problems = watchProblems(page);
    const found: string[] = [];
    const check = async (what: string) => {
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const violation of await axeIn(page, scheme)) found.push(`${what} ${scheme}: ${violation}`);
        for (const cut of await clippedControls(page)) found.push(`${what} ${scheme}: ${cut}`);
      }
    };
    await page.locator('tr[data-user="carol"] button.name').click();
    await page.getByRole('dialog', { name: 'Carol Shaw' }).getByTestId('panel-usage').waitFor();
    await check('user drawer');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('dialog', { name: 'Add user' }).getByLabel('Username').waitFor();
    await check('Add user');
    await page.getByLabel('Invite by e-mail').check();
    await page.getByRole('button', { name: 'Send invitation' }).waitFor();
    await check('Add user, invite by e-mail');
    await page.keyboard.press('Escape');
    await page.getByRole('link', { name: 'Sessions' }).click();
    await page.locator('tr[data-session]').first().getByRole('button', { name: 'All of user' }).click();
    await page.getByRole('alertdialog').waitFor();
    await check('confirmation');
    await page.keyboard.press('Escape');
    expect(found).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });
});
