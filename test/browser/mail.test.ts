import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { createTestUser } from '../helpers/clients.ts';
import { axeViolations, clippedControls, screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { mailServer } from '../helpers/mail.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Issue 16 in the console: an admin invites someone from Add user, the invitation shows on every
// admin's Invitations page at once, the person follows the mailed link, chooses a password and is
// in; someone who forgot their password gets a link from the sign-in page; an admin sends one.

/** The path and fragment of the link in a mail, on the test server. */
function linkIn(text: string): string {
  const match = text.match(/https?:\/\/[^\s]+#token=[\w-]+/);
  if (!match) throw new Error('no link in the mail');
  return match[0];
}

describe.skipIf(!chromiumPath)('mail in the console: invitations and password reset', () => {
  let server: TestServer;
  let smtp: Awaited<ReturnType<typeof mailServer>>;
  let browser: Browser;
  let admin: Page;
  let watcher: Page;
  let problems: string[];
  const password = 'correct horse battery';

  /** What axe and the layout checks find on the page, in light and dark. */
  async function check(page: Page, what: string): Promise<string[]> {
    const found: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const violation of await axeViolations(page)) found.push(`${what} ${scheme}: ${violation}`);
      for (const cut of await clippedControls(page)) found.push(`${what} ${scheme}: ${cut}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    return found;
  }

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    smtp = await mailServer();
    server = await startTestServer({ web: true, env: { SMTP_URL: smtp.url } });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'admin', username: 'alan', display_name: 'Alan Turing', password });
    await createTestUser(server, { username: 'carol', display_name: 'Carol Shaw', email: 'carol@example.com', password });
    browser = await launchBrowser();
    admin = (await signInPage(browser, server, 'ada', password)).page;
    watcher = (await signInPage(browser, server, 'alan', password)).page;
    problems = watchProblems(admin);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await smtp?.close();
  });

  test('invite from Add user; the invitation appears live; the person accepts and is signed in', async () => {
    await watcher.goto(`${server.url}/invitations`);
    await watcher.getByText('No pending invitations.').waitFor();
    await admin.goto(`${server.url}/users`);
    await admin.getByRole('button', { name: 'Add user' }).click();
    const added = admin.getByRole('dialog', { name: 'Add user' });
    await added.getByLabel('Username').fill('dorothy');
    await added.getByLabel('Display name').fill('Dorothy Vaughan');
    await added.getByLabel('Email').fill('dorothy@example.com');
    await added.getByLabel('Invite by e-mail').check();
    // The title says what the dialog now does.
    const dialog = admin.getByRole('dialog', { name: 'Invite someone' });
    await expect(dialog.getByLabel('Monthly token budget').count()).resolves.toBe(0);
    await shootBoth(admin, 'mail-add-user-invite');
    await dialog.getByRole('button', { name: 'Send invitation' }).click();
    await dialog.waitFor({ state: 'hidden' });

    // Another admin's page shows it without a reload.
    const row = watcher.locator('tr[data-invitation="dorothy"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('dorothy@example.com');
    expect(await row.textContent()).toContain('Valid');
    await shootBoth(watcher, 'mail-invitations');
    expect(await check(watcher, 'invitations')).toEqual([]);

    const mail = await smtp.next('dorothy@example.com');
    const invitee = await browser.newContext({ viewport: { width: 390, height: 800 } });
    invitee.setDefaultTimeout(8000);
    const page = await invitee.newPage();
    const inviteeProblems = watchProblems(page);
    await page.goto(linkIn(mail.text));
    await page.getByText('Hello Dorothy Vaughan').waitFor();
    // The token leaves the address bar at once.
    expect(page.url()).not.toContain('token');
    await shootBoth(page, 'mail-accept-invitation');
    expect(await check(page, 'accept invitation')).toEqual([]);
    await page.getByLabel('New password', { exact: true }).fill('a fine chosen secret');
    await page.getByLabel('New password again').fill('a fine chosen secret');
    await page.getByRole('button', { name: 'Choose password and sign in' }).click();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await row.waitFor({ state: 'detached' });
    expect(inviteeProblems).toEqual([]);

    // The link works once.
    const again = await invitee.newPage();
    await again.goto(linkIn(mail.text));
    await again.getByRole('alert').filter({ hasText: 'does not work any more' }).waitFor();
    await invitee.close();
  });

  test('resend and revoke from the Invitations page', async () => {
    await admin.goto(`${server.url}/invitations`);
    await admin.getByRole('button', { name: 'Invite someone' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Invite someone' });
    expect(await dialog.getByLabel('Invite by e-mail').isChecked()).toBe(true);
    await dialog.getByLabel('Username').fill('katherine');
    await dialog.getByLabel('Display name').fill('Katherine Johnson');
    await dialog.getByLabel('Email').fill('katherine@example.com');
    await dialog.getByRole('button', { name: 'Send invitation' }).click();
    const first = await smtp.next('katherine@example.com');
    const row = admin.locator('tr[data-invitation="katherine"]');
    await row.getByRole('button', { name: 'Resend' }).click();
    const second = await smtp.next('katherine@example.com');
    expect(linkIn(second.text)).not.toBe(linkIn(first.text));
    await row.getByRole('button', { name: 'Revoke' }).click();
    await admin.getByRole('alertdialog').getByRole('button', { name: 'Revoke invitation' }).click();
    await row.waitFor({ state: 'detached' });
    await watcher.locator('tr[data-invitation="katherine"]').waitFor({ state: 'detached' });
    expect(problems).toEqual([]);
  });

  test('forgot password from the sign-in page: a mailed link, a new password, signed in', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(8000);
    const page = await context.newPage();
    const pageProblems = watchProblems(page);
    await page.goto(`${server.url}/login`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email').fill('carol@example.com');
    await shootBoth(page, 'mail-forgot-password');
    expect(await check(page, 'forgot password')).toEqual([]);
    await page.getByRole('button', { name: 'Send the link' }).click();
    // Generous: on a loaded machine this answer once took longer than the default 8 s. CI has also
    // seen no answer within 20 s, once in many runs: whatever the page shows then goes into the failure.
    const sent = page.getByTestId('reset-sent');
    const shown = await sent
      .or(page.getByRole('alert'))
      .first()
      .waitFor({ timeout: 20_000 })
      .then(() => null, (error: unknown) => error);
    const form = await page.locator('main').innerText().catch(() => '(no page)');
    expect(shown, `the page shows: ${form}\nproblems: ${pageProblems.join('; ')}`).toBeNull();
    expect(await sent.count(), `the page shows: ${form}`).toBe(1);
    await shootBoth(page, 'mail-forgot-password-sent');
    const mail = await smtp.next('carol@example.com', 'Reset your Roster password');
    await page.goto(linkIn(mail.text));
    await page.getByText('Choose a new password for').waitFor();
    await shootBoth(page, 'mail-reset-password');
    expect(await check(page, 'reset password')).toEqual([]);
    await page.getByLabel('New password', { exact: true }).fill('a brand new secret here');
    await page.getByLabel('New password again').fill('a brand new secret here');
    await page.getByRole('button', { name: 'Save password and sign in' }).click();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await smtp.next('carol@example.com', 'Your Roster password was changed');
    expect(pageProblems).toEqual([]);
    await context.close();
  });

  test('an admin sends a reset link from the user drawer', async () => {
    await admin.goto(`${server.url}/users`);
    await admin.locator('tr[data-user="carol"] button.name').click();
    const drawer = admin.getByRole('dialog', { name: 'Carol Shaw' });
    await drawer.getByRole('button', { name: 'Send reset link' }).click();
    await drawer.getByText('A reset link went to carol@example.com').waitFor();
    await smtp.next('carol@example.com', 'Reset your Roster password');
    await shootBoth(admin, 'mail-send-reset-link');
    expect(problems).toEqual([]);
  });
});
