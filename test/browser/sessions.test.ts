import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SIGN_OUT_EVERYONE_PHRASE } from '@roster/shared';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { screenshots, shootBoth, signInPage } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

// The console's session flows (ASVS 6.4.1, 7.4.5, 7.5.1): choosing one's own password after an
// admin set one, confirming the password before a sensitive change, signing everyone out.

describe.skipIf(!chromiumPath)('session flows in the console', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('a user whose password an admin set chooses their own before anything else', async () => {
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const created = await admin.post('/api/v1/users', { username: 'newcomer', display_name: 'New Comer', email: 'newcomer@example.com', generate_password: true });
    const temporary = created.body.generated_password as string;

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(8000);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email or username').fill('newcomer');
    await page.getByLabel('Password').fill(temporary);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/choose-password');
    await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
    // Any other page leads back here until the password is chosen.
    await page.goto(`${server.url}/projects`);
    await page.waitForURL('**/choose-password');

    await page.getByLabel('Temporary password').fill(temporary);
    await page.getByLabel('New password', { exact: true }).fill('my own passphrase');
    await page.getByLabel('New password again').fill('my own passphrase typo');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.getByText('The two new passwords differ').waitFor();
    await page.getByLabel('New password again').fill('my own passphrase');
    await shootBoth(page, 'choose-password');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.waitForURL((url) => !url.pathname.startsWith('/choose-password'));
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
    // The temporary password is gone; the chosen one works.
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: 'newcomer', password: temporary })).status).toBe(401);
    await new ApiClient(server).signIn('newcomer', 'my own passphrase');
  });

  test('7.4.4 every signed-in page offers sign-out in view', async () => {
    const { context, page } = await signInPage(browser, server, 'ada', password);
    for (const path of ['/users', '/projects', '/stats', '/sessions', '/audit', '/account']) {
      await page.goto(`${server.url}${path}`);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      expect(await page.getByRole('banner').getByRole('button', { name: 'Sign out', exact: true }).isVisible(), path).toBe(true);
    }
    await context.close();
  });

  test('creating an API key after a while asks for the password in a dialog, then carries on', async () => {
    const user = await createTestUser(server, { username: 'keyholder', display_name: 'Key Holder', password });
    const { context, page } = await signInPage(browser, server, 'keyholder', password);
    await server.sql`UPDATE sessions SET authenticated_at = now() - interval '11 minutes' WHERE user_id = ${user.id}`;
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByLabel('New key name').fill('nightly export');
    await page.getByRole('button', { name: 'Create key' }).click();

    const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
    await dialog.waitFor();
    await dialog.getByLabel('Password').fill('not my password');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByText('The password is wrong').waitFor();
    await dialog.getByLabel('Password').fill(password);
    await shootBoth(page, 'reauthenticate');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'hidden' });
    // The action that asked went through without being repeated by hand.
    await page.getByTestId('new-api-key').waitFor();
    await page.getByText('nightly export').waitFor();
    // The session's token was replaced on confirmation: the page keeps working on the new one.
    expect((await page.request.get(`${server.url}/api/v1/auth/me`)).status()).toBe(200);
    await context.close();
  });

  test('an admin signs everyone out by typing the phrase; the others land on sign-in', async () => {
    const victim = await createTestUser(server, { username: 'bystander', display_name: 'By Stander', password });
    const { context: victimContext, page: victimPage } = await signInPage(browser, server, victim.username, password);
    const { context, page } = await signInPage(browser, server, 'ada', password);
    await page.getByRole('link', { name: 'Sessions' }).click();
    await page.getByRole('button', { name: 'Sign out everyone…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Sign out everyone' });
    const confirm = dialog.getByRole('button', { name: 'Sign out everyone' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel(`Type "${SIGN_OUT_EVERYONE_PHRASE}" to confirm`).fill(SIGN_OUT_EVERYONE_PHRASE);
    await shootBoth(page, 'sign-out-everyone');
    await confirm.click();
    await dialog.getByText(/sessions? ended/).waitFor();
    await dialog.getByRole('button', { name: 'Done' }).click();

    await victimPage.waitForURL('**/login?reason=revoked');
    await victimPage.getByText('Your session was ended by an administrator.').waitFor();
    // The admin kept their own session, and the list shows only it.
    await expect.poll(() => page.locator('tbody tr[data-session]').count()).toBe(1);
    await victimContext.close();
    await context.close();
  });
});
