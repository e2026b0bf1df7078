import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { createTestUser } from '../helpers/clients.ts';
import { screenshots, shootBoth, signInPage, watchProblems } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';

// Issue 15 in the console: an admin registers an application, someone signs in to it through
// Roster's own pages (sign-in, then consent), and every admin sees it happen without a reload.

describe.skipIf(!chromiumPath)('applications: register one, sign in to it through Roster', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  let admin: Page;
  let watcher: Page;
  let problems: string[];
  let callback: Server;
  let callbackUrl: string;
  let carolId: string;
  const credentials = { clientId: '', clientSecret: '' };
  const password = 'correct horse battery';

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'admin', username: 'alan', display_name: 'Alan Turing', password });
    carolId = (await createTestUser(server, { username: 'carol', display_name: 'Carol Shaw', password })).id;
    // The application's callback: it only has to answer, the test reads the code from the URL.
    callback = createServer((_req, res) => res.end('back at the application'));
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
    callbackUrl = `http://localhost:${(callback.address() as AddressInfo).port}/callback`;
    browser = await launchBrowser();
    admin = (await signInPage(browser, server, 'ada', password)).page;
    watcher = (await signInPage(browser, server, 'alan', password)).page;
    problems = watchProblems(admin, [/status of 400/]); // the refused http redirect URI
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => callback?.close(resolve));
  });

  test('an admin registers an application: the secret is shown once, the other admin sees it arrive', async () => {
    await watcher.goto(`${server.url}/applications`);
    await watcher.getByText('No applications yet').waitFor();
    await admin.getByRole('link', { name: 'Applications' }).click();
    await admin.getByRole('button', { name: 'Register an application' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Register an application' });
    await dialog.getByRole('button', { name: 'Register application' }).click();
    // Both problems at once, before anything is sent.
    await dialog.getByText('Name is required').waitFor();
    await dialog.getByText('Give a redirect URI, a forward authentication host, or both').waitFor();
    await dialog.getByLabel('Name').fill('Wiki');
    await dialog.getByLabel('Redirect URIs', { exact: true }).fill('http://wiki.example.com/callback');
    await dialog.getByRole('button', { name: 'Register application' }).click();
    await dialog.getByText('Must be https, or http on localhost, without a #fragment').waitFor();
    await dialog.getByLabel('Redirect URIs', { exact: true }).fill(callbackUrl);
    await shootBoth(admin, 'applications-register');
    await dialog.getByRole('button', { name: 'Register application' }).click();
    const done = admin.getByRole('dialog', { name: 'Application registered' });
    credentials.clientSecret = (await done.getByTestId('client-secret').textContent())!;
    credentials.clientId = (await done.getByTestId('client-id').textContent())!;
    expect(await done.textContent()).toContain(`${server.url}/oidc`);
    await shootBoth(admin, 'applications-secret');
    await done.getByRole('button', { name: 'Done' }).click();
    await admin.locator('tr[data-application="Wiki"]').waitFor();
    await watcher.locator('tr[data-application="Wiki"]').waitFor();
    expect(await watcher.locator('tr[data-application="Wiki"]').textContent()).toContain(credentials.clientId);
    // Shown once: the list never carries it.
    expect(await admin.locator('main').textContent()).not.toContain(credentials.clientSecret);
  });

  test('a signed-out user signs in to it through Roster: sign-in, consent, back with a code; admins see it live', async () => {
    await watcher.goto(`${server.url}/sessions`);
    await watcher.locator('tr[data-session]').first().waitFor();
    const config = await client.discovery(new URL(`${server.url}/oidc`), credentials.clientId, credentials.clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const authorize = client.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl,
      scope: 'openid profile email offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(8000);
    const carol = await context.newPage();
    const carolProblems = watchProblems(carol, [/401/]);
    await carol.goto(authorize.href);
    // Not signed in to Roster: its sign-in page first, then back to the application's request.
    await carol.waitForURL((url) => url.pathname === '/login');
    await carol.getByLabel('Email or username').fill('carol');
    await carol.getByLabel('Password').fill(password);
    await carol.getByRole('button', { name: 'Sign in' }).click();
    await carol.getByRole('heading', { name: 'Sign in to Wiki' }).waitFor();
    expect(await carol.locator('main').textContent()).toContain('your email address');
    await shootBoth(carol, 'applications-consent');
    await carol.getByRole('button', { name: 'Allow and continue' }).click();
    await carol.waitForURL((url) => url.href.startsWith(callbackUrl));
    const tokens = await client.authorizationCodeGrant(config, new URL(carol.url()), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.sub).toBe(carolId);
    expect(await client.fetchUserInfo(config, tokens.access_token, carolId)).toMatchObject({ preferred_username: 'carol', name: 'Carol Shaw' });
    expect(carolProblems).toEqual([]);

    // The other admin's Sessions page names the application on Carol's session, without a reload.
    const carolsSession = watcher.locator('tr[data-session]', { hasText: 'Carol Shaw' });
    await carolsSession.getByRole('button', { name: 'Sign this session out of Wiki' }).waitFor();
    await shootBoth(watcher, 'applications-sessions');
    // Her drawer lists it; the audit log says it.
    await admin.goto(`${server.url}/users`);
    await admin.locator('tr[data-user="carol"] button.name').click();
    await admin.getByTestId('panel-applications').getByText('Wiki').waitFor();
    await shootBoth(admin, 'applications-drawer');
    // Signing her out of it from the drawer: gone from the drawer and from the other admin's Sessions page at once.
    await admin.getByRole('button', { name: 'Sign carol out of Wiki' }).click();
    await admin.getByRole('alertdialog').getByRole('button', { name: 'Sign out' }).click();
    await admin.getByTestId('panel-applications').getByText('Not signed in to any application').waitFor();
    await carolsSession.getByRole('button', { name: 'Sign this session out of Wiki' }).waitFor({ state: 'detached' });
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await admin.goto(`${server.url}/audit`);
        await admin.locator('li[data-action="application.signed_in"]').filter({ hasText: 'carol signed in to Wiki' }).waitFor();
    await admin.locator('li[data-action="application.signed_out"]').filter({ hasText: 'ada signed @carol out of Wiki' }).waitFor();

    // Signing in again works, and asks nothing more than it asked the first time.
    await carol.goto(authorize.href);
    await carol.getByRole('button', { name: 'Allow and continue' }).click();
    await carol.waitForURL((url) => url.href.startsWith(callbackUrl));
    await context.close();
  });

  test('disabling it asks first and shows at once for every admin', async () => {
    await admin.goto(`${server.url}/applications`);
    await watcher.goto(`${server.url}/applications`);
    const row = admin.locator('tr[data-application="Wiki"]');
    await row.getByRole('button', { name: 'Disable' }).click();
    await admin.getByRole('alertdialog').getByRole('button', { name: 'Disable' }).click();
    await row.getByText('Disabled').waitFor();
    await watcher.locator('tr[data-application="Wiki"]').getByText('Disabled').waitFor();
    await shootBoth(admin, 'applications-list');
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
