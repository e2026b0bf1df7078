import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Invitation } from '@roster/shared';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { settles, signInPage } from '../helpers/console.ts';
import { mailServer } from '../helpers/mail.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The Invitations page while another admin invites, revokes, or the person accepts: each test first
// checks what the open page shows, then what a reload shows.
describe.skipIf(!chromiumPath)('the Invitations page stays current without a reload', () => {
  let server: TestServer;
  let smtp: Awaited<ReturnType<typeof mailServer>>;
  let browser: Browser;
  let admin: ApiClient;
  const password = 'correct horse battery';

  beforeAll(async () => {
    smtp = await mailServer();
    server = await startTestServer({ web: true, env: { SMTP_URL: smtp.url } });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'admin', username: 'brian', display_name: 'Brian Kernighan', password });
    browser = await launchBrowser();
    admin = new ApiClient(server);
    await admin.signIn('ada', password);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await smtp?.close();
  });

  const invite = async (username: string) =>
    ((await admin.ok('POST /invitations', { body: { username, display_name: `${username} Invited`, email: `${username}@example.com` } })) as { invitation: Invitation }).invitation;
  const onServer = async () => ((await admin.ok('GET /invitations')) as { items: Invitation[] }).items.map((i) => i.username);
  const shown = (page: Page) => page.locator('tr[data-invitation]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-invitation')));

  test('a revoke asked about an invitation another admin revokes meanwhile: the question goes with the row', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    const invitation = await invite('rita');
    await page.goto(`${server.url}/invitations`);
    await page.locator('tr[data-invitation="rita"]').getByRole('button', { name: 'Revoke' }).click();
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    expect((await admin.api('DELETE /invitations/:id', { params: { id: invitation.id } })).status).toBe(204);
    await page.locator('tr[data-invitation="rita"]').waitFor({ state: 'detached' });
    const live = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
    expect(live, 'no question left about an invitation that is gone').toBe(true);
    await context.close();
  });

  test('a revoke asked about an invitation the person accepts meanwhile: the question goes with the row', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await invite('sven');
    const mail = await smtp.next('sven@example.com');
    const token = mail.text.match(/#token=([\w-]+)/)![1]!;
    await page.goto(`${server.url}/invitations`);
    await page.locator('tr[data-invitation="sven"]').getByRole('button', { name: 'Revoke' }).click();
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    const invitee = new ApiClient(server);
    expect((await invitee.api('POST /auth/invitation/accept', { body: { token, password } })).status).toBe(201);
    await page.locator('tr[data-invitation="sven"]').waitFor({ state: 'detached' });
    const live = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
    expect(live, 'no question left about an invitation that is gone').toBe(true);
    await context.close();
  });

  test('invitations imported together arrive in the order the server lists them', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await page.goto(`${server.url}/invitations`);
    await page.getByText('No pending invitations.').waitFor();
    const rows = Array.from({ length: 8 }, (_, n) => ({ username: `bulk${n}`, email: `bulk${n}@example.com`, display_name: `Bulk ${n}` }));
    await admin.ok('POST /invitations/import', { body: { rows } });
    await expect.poll(() => page.locator('tr[data-invitation]').count()).toBe(8);
    const live = await shown(page);
    const server_ = await onServer();
    await page.reload();
    await expect.poll(() => shown(page)).toEqual(server_); // what a reload shows
    expect(live).toEqual(server_);
    await context.close();
  });

  test('Invite someone opens empty every time, from the keyboard; Escape closes it and the focus is back on its button', async () => {
    const { page, context } = await signInPage(browser, server, 'brian', password);
    await page.goto(`${server.url}/invitations`);
    const open = page.getByRole('button', { name: 'Invite someone' });
    await open.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Invite someone' });
    await dialog.getByLabel('Username').fill('tess');
    await dialog.getByLabel('Email').fill('tess@example.com');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await open.evaluate((button) => button === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    expect([await dialog.getByLabel('Username').inputValue(), await dialog.getByLabel('Email').inputValue()]).toEqual(['', '']);
    await context.close();
  });
});
