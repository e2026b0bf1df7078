// Over 300 lines for a reason: every two-factor flow in the console (setup, the code step, recovery codes, the admin's reset, the staff rule, another application's sign-in) shares one server and its helpers.
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { axeViolations, clippedControls, screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { totpCode } from '../helpers/totp.ts';
import { qrImage, qrSvg } from '../../web/src/lib/qr.ts';
import { sha256Hex } from '../../server/src/auth/tokens.ts';

// Two-factor sign-in in the console (issue 16, item 4): setting it up on the account page with a QR
// code and recovery codes shown once, the sign-in page's code step by keyboard (a code, or a
// recovery code), the admin's reset in the user drawer, and staff who must have it
// (REQUIRE_2FA_FOR_STAFF): told how long is left, then sent to set it up, not locked out. Signing in
// to another application through Roster asks for the code as well.

describe.skipIf(!chromiumPath)('two-factor sign-in in the console', () => {
  let server: TestServer;
  let browser: Browser;
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    server = await startTestServer({ web: true, env: { REQUIRE_2FA_FOR_STAFF: 'true', REQUIRE_2FA_GRACE_DAYS: '3' } });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { username: 'carol', display_name: 'Carol Shaw', password });
    await createTestUser(server, { role: 'moderator', username: 'mona', display_name: 'Mona Moderator', password });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh browser at the sign-in page, past the password: the code step is showing. */
  async function atCodeStep(login: string, options: { colorScheme?: 'light' | 'dark'; width?: number } = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: 800 }, colorScheme: options.colorScheme ?? 'light' });
    context.setDefaultTimeout(8000);
    const page = await context.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password').fill(password);
    await page.keyboard.press('Enter');
    await page.getByLabel('Authentication code').waitFor();
    return page;
  }

  /** Sets up an authenticator on the page's account page: returns the secret read from it and the recovery codes shown. */
  async function setUpOn(page: Page, shoot?: string): Promise<{ secret: string; codes: string[] }> {
    const started = page.waitForResponse((r) => r.url().endsWith('/api/v1/me/two-factor') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const { uri } = (await (await started).json()) as { uri: string };
    const qr = page.getByRole('img', { name: 'QR code to scan with your authenticator app' });
    await qr.waitFor();
    const secret = (await page.getByTestId('totp-secret').innerText()).replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // The QR code carries the otpauth URI with the key shown beside it (the modules drawn are the URI's).
    expect(uri).toMatch(new RegExp(`^otpauth://totp/Roster:[^?]+\\?.*secret=${secret}`));
    expect(await qr.getAttribute('src')).toBe(qrImage(uri));
    expect(decodeURIComponent((await qr.getAttribute('src'))!.replace('data:image/svg+xml,', ''))).toBe(qrSvg(uri));
    expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    const field = page.getByLabel('Code from the app');
    expect(await field.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await field.getAttribute('inputmode')).toBe('numeric');
    // A wrong code changes nothing and says so under the field.
    await field.fill('000000');
    await field.press('Enter');
    await page.getByText('The code is wrong').waitFor();
    await field.fill(totpCode(secret));
    if (shoot) await shootBoth(page, shoot);
    await field.press('Enter');
    const shown = page.getByTestId('recovery-codes');
    await shown.waitFor();
    const codes = await shown.locator('li code').allInnerTexts();
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{6}(-[a-z2-7]{6}){3}$/);
    return { secret, codes };
  }

  test('a user sets it up on the account page (QR code, key, recovery codes shown once), then signs in with a code and with a recovery code', async () => {
    const { context, page } = await signInPage(browser, server, 'carol', password);
    const problems = watchProblems(page, [/Failed to load resource/]);
    await page.goto(`${server.url}/account`);
    const section = page.getByTestId('two-factor');
    await section.getByText('Off', { exact: true }).waitFor();
    await shootBoth(page, 'two-factor-account-off');
    await section.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const { secret, codes } = await setUpOn(page, 'two-factor-setup');
    expect(await axeViolations(page)).toEqual([]);
    expect(await clippedControls(page)).toEqual([]);
    await shootBoth(page, 'two-factor-recovery-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    // Shown once: gone from the page, and the status says how many are left.
    await section.getByText('10 recovery codes left').waitFor();
    expect(await page.getByTestId('recovery-codes').count()).toBe(0);
    await section.getByText('On', { exact: true }).waitFor();
    await shootBoth(page, 'two-factor-account-on');
    expect(problems).toEqual([]);
    await context.close();

    // Signing in asks for the code; the field has the focus, so it is typed and sent with the keyboard alone.
    const signIn = await atCodeStep('carol');
    const signInProblems = watchProblems(signIn, [/Failed to load resource/]);
    const codeField = signIn.getByLabel('Authentication code');
    expect(await codeField.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await signIn.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('code');
    await signIn.keyboard.type('123456');
    await signIn.keyboard.press('Enter');
    await signIn.getByText('The code is wrong or was already used').waitFor();
    expect(await axeViolations(signIn)).toEqual([]);
    await shootBoth(signIn, 'two-factor-sign-in-code');
    await codeField.focus();
    await signIn.keyboard.type(totpCode(secret, new Date(), 1));
    await signIn.keyboard.press('Enter');
    await signIn.waitForURL((url) => !url.pathname.startsWith('/login'));
    await signIn.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    expect(signInProblems).toEqual([]);
    await signIn.context().close();

    // A lost phone: a recovery code instead, once.
    const recovery = await atCodeStep('carol');
    await recovery.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
    const recoveryField = recovery.getByLabel('Recovery code');
    await recoveryField.waitFor();
    expect(await recovery.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('recovery_code');
    await shootBoth(recovery, 'two-factor-sign-in-recovery');
    await recovery.keyboard.type(codes[0]!.toUpperCase());
    await recovery.keyboard.press('Enter');
    await recovery.waitForURL((url) => !url.pathname.startsWith('/login'));
    // A used recovery code does not work again.
    const reused = await atCodeStep('carol');
    await reused.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
    await reused.getByLabel('Recovery code').fill(codes[0]!);
    await reused.keyboard.press('Enter');
    await reused.getByText('This recovery code is wrong or was already used').waitFor();
    // Start over goes back to the password.
    await reused.getByRole('button', { name: 'Start over' }).click();
    await reused.getByRole('heading', { name: 'Sign in' }).waitFor();
    await reused.context().close();
    await recovery.goto(`${server.url}/account`);
    const own = recovery.getByTestId('two-factor');
    await own.getByText('9 recovery codes left').waitFor();
    // New recovery codes replace the old ones (shown once); turning it off asks first.
    await own.getByRole('button', { name: 'New recovery codes' }).click();
    await recovery.getByRole('alertdialog').getByRole('button', { name: 'Make new codes' }).click();
    await recovery.getByTestId('recovery-codes').waitFor();
    const renewed = await recovery.getByTestId('recovery-codes').locator('li code').allInnerTexts();
    expect(renewed).toHaveLength(10);
    expect(renewed).not.toContain(codes[1]);
    await recovery.getByRole('button', { name: 'I have saved them' }).click();
    await own.getByText('10 recovery codes left').waitFor();
    await own.getByRole('button', { name: 'Turn off' }).click();
    await recovery.getByRole('alertdialog').getByRole('button', { name: 'Turn off' }).click();
    await own.getByText('Off', { exact: true }).waitFor();
    await own.getByRole('button', { name: 'Set up two-factor sign-in' }).waitFor();
    await recovery.context().close();
  });

  test('an admin resets a user\'s two-factor sign-in from the drawer: the user is signed out and told why', async () => {
    const dave = await createTestUser(server, { username: 'dave', display_name: 'Dave Doe', password });
    const daveApi = new ApiClient(server);
    await daveApi.signIn('dave', password);
    const started = await daveApi.post('/api/v1/me/two-factor');
    await daveApi.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret) });
    const daveBrowser = await atCodeStep('dave');
    await daveBrowser.getByLabel('Authentication code').fill(totpCode(started.body.secret, new Date(), 1));
    await daveBrowser.keyboard.press('Enter');
    await daveBrowser.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();

    const { context, page } = await signInPage(browser, server, 'ada', password);
    const problems = watchProblems(page, [/Failed to load resource/]);
    await page.locator(`tr[data-user="dave"] button.name`).click();
    const drawer = page.getByRole('dialog', { name: 'Dave Doe' });
    const panel = drawer.getByTestId('panel-two-factor');
    await panel.getByText('On: signing in asks for a code').waitFor();
    await panel.scrollIntoViewIfNeeded();
    await shootBoth(page, 'two-factor-drawer');
    await panel.getByRole('button', { name: 'Reset' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByText('Reset two-factor sign-in of Dave Doe?').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await confirm.getByRole('button', { name: 'Reset two-factor' }).click();
    // The drawer follows at once, and Dave's browser is sent to sign in, told why.
    await panel.getByText('Off: the password alone signs in').waitFor();
    await daveBrowser.waitForURL((url) => url.pathname === '/login');
    await daveBrowser.getByText('An administrator reset your two-factor sign-in').waitFor();
    expect((await server.sql`SELECT count(*)::int AS n FROM user_totp WHERE user_id = ${dave.id}`)[0]!.n).toBe(0);
    // Their own is not reset here.
    await page.keyboard.press('Escape');
    await page.locator(`tr[data-user="ada"] button.name`).click();
    const own = page.getByRole('dialog', { name: 'Ada Lovelace' }).getByTestId('panel-two-factor');
    await own.getByText('your account page').waitFor();
    expect(await own.getByRole('button', { name: 'Reset' }).count()).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
    await daveBrowser.context().close();
  });

  test('a password reset link does not bypass it: after choosing the new password, the sign-in page asks for the code', async () => {
    const fay = await createTestUser(server, { username: 'fay', display_name: 'Fay Forgetful', password });
    const fayApi = new ApiClient(server);
    await fayApi.signIn('fay', password);
    const started = await fayApi.post('/api/v1/me/two-factor');
    await fayApi.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret) });
    await server.sql`INSERT INTO password_resets (user_id, token_hash, expires_at) VALUES (${fay.id}, ${sha256Hex('fay-reset-token')}, now() + interval '1 hour')`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(8000);
    const page = await context.newPage();
    const problems = watchProblems(page, [/Failed to load resource/]);
    await page.goto(`${server.url}/reset-password#token=fay-reset-token`);
    await page.getByLabel('New password', { exact: true }).fill('a fresh passphrase');
    await page.getByLabel('New password again').fill('a fresh passphrase');
    await page.getByRole('button', { name: 'Save password and sign in' }).click();
    await page.waitForURL('**/login?step=code');
    const field = page.getByLabel('Authentication code');
    await field.waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('code');
    await page.keyboard.type(totpCode(started.body.secret, new Date(), 1));
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => !url.pathname.startsWith('/login'));
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  test('signing in to another application through Roster asks for the code too; the application is told (amr)', async () => {
    const callback: Server = createServer((_req, res) => res.end('back at the application'));
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
    try {
      const callbackUrl = `http://localhost:${(callback.address() as AddressInfo).port}/callback`;
      const ada = new ApiClient(server);
      await ada.signIn('ada', password);
      const created = await ada.post('/api/v1/applications', { name: 'Wiki', redirect_uris: [callbackUrl] });
      const config = await client.discovery(new URL(`${server.url}/oidc`), created.body.application.client_id, created.body.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const erin = await createTestUser(server, { username: 'erin', display_name: 'Erin Example', password });
      const erinApi = new ApiClient(server);
      await erinApi.signIn('erin', password);
      const started = await erinApi.post('/api/v1/me/two-factor');
      await erinApi.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret) });

      const verifier = client.randomPKCECodeVerifier();
      const authorize = client.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'wiki-state',
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      context.setDefaultTimeout(8000);
      const page = await context.newPage();
      const problems = watchProblems(page, [/Failed to load resource/]);
      await page.goto(authorize.href);
      await page.waitForURL((url) => url.pathname === '/login');
      await page.getByLabel('Email or username').fill('erin');
      await page.getByLabel('Password').fill(password);
      await page.keyboard.press('Enter');
      // The password alone does not reach the application: the code step comes first.
      await page.getByLabel('Authentication code').waitFor();
      expect(page.url()).not.toContain(callbackUrl);
      await page.keyboard.type(totpCode(started.body.secret, new Date(), 1));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Sign in to Wiki' }).waitFor();
      await page.getByRole('button', { name: 'Allow and continue' }).click();
      await page.waitForURL((url) => url.href.startsWith(callbackUrl));
      const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: 'wiki-state' });
      expect(tokens.claims()).toMatchObject({ sub: erin.id, amr: ['pwd', 'otp'] });
      expect(problems).toEqual([]);
      await context.close();
    } finally {
      await new Promise((resolve) => callback.close(resolve));
    }
  });

  test('staff are told how long is left to set it up; after the grace period they are sent to set it up, then go on', async () => {
    const { context, page } = await signInPage(browser, server, 'mona', password);
    const problems = watchProblems(page, [/Failed to load resource/]);
    const notice = page.getByTestId('two-factor-notice');
    await notice.getByText('Your role requires two-factor sign-in.').waitFor();
    expect(await notice.innerText()).toMatch(/in 3 days|in 2 days/);
    await shootBoth(page, 'two-factor-staff-notice');
    await notice.getByRole('link', { name: 'Set it up' }).click();
    await page.waitForURL('**/account#two-factor');
    await page.getByTestId('two-factor-required').waitFor();

    // The grace period ends while the console is open: the live channel closes, and the console goes to the setup page.
    await server.sql`UPDATE users SET two_factor_due_at = now() - interval '1 second' WHERE username = 'mona'`;
    await server.live.sweepSessions();
    await page.waitForURL('**/set-up-two-factor');
    // Any other page leads back there.
    await page.goto(`${server.url}/users`);
    await page.waitForURL('**/set-up-two-factor');
    await page.getByRole('heading', { name: 'Set up two-factor sign-in' }).waitFor();
    await page.getByRole('button', { name: 'Set up an authenticator app' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await shootBoth(page, 'two-factor-staff-required');
    await page.goto(`${server.url}/audit`);
    await page.waitForURL('**/set-up-two-factor');
    await setUpOn(page, 'two-factor-staff-setup');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.waitForURL((url) => !url.pathname.startsWith('/set-up-two-factor'));
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await page.locator('tr[data-user]').first().waitFor();
    expect(await page.getByTestId('two-factor-notice').count()).toBe(0);
    // Required of their role: it can be replaced, not turned off.
    await page.getByRole('link', { name: 'Account' }).click();
    const section = page.getByTestId('two-factor');
    await section.getByText('it can be replaced, not turned off').waitFor();
    expect(await section.getByRole('button', { name: 'Turn off' }).count()).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  });

  test('a role change applies to the rule at once: promoted, a user is told to set it up; demoted again, the notice goes, with no reload', async () => {
    const pat = await createTestUser(server, { username: 'pat', display_name: 'Pat Promoted', password });
    const admin = new ApiClient(server);
    await admin.signIn('ada', password);
    const { context, page } = await signInPage(browser, server, 'pat', password);
    await page.goto(`${server.url}/account`);
    await page.getByTestId('two-factor').getByText('Off', { exact: true }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    expect(await page.getByTestId('two-factor-notice').count()).toBe(0);

    expect((await admin.patch(`/api/v1/users/${pat.id}`, { role: 'moderator', version: pat.version })).status).toBe(200);
    await page.getByTestId('two-factor-notice').getByText('Your role requires two-factor sign-in.').waitFor();
    await page.getByTestId('two-factor-required').waitFor();

    expect((await admin.patch(`/api/v1/users/${pat.id}`, { role: 'user', version: pat.version + 1 })).status).toBe(200);
    await page.getByTestId('two-factor-notice').waitFor({ state: 'detached' });
    await page.getByTestId('two-factor-required').waitFor({ state: 'detached' });
    await context.close();
  });
});
