import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { issueSetupToken } from '../../server/src/services/setup.ts';
import { chromiumPath, launchBrowser } from '../helpers/browser.ts';
import { screenshots, shootBoth } from '../helpers/console.ts';
import { useTestServer } from '../helpers/server.ts';


describe.skipIf(!chromiumPath)('console in Chromium: setup, sign-in, sign-out', () => {
  const server = useTestServer({ web: true });
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await mkdir(screenshots, { recursive: true });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('without a token the setup page explains where to find the link', async () => {
    await page.goto(`${server.url}/setup`);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/setup link printed/);
  });

  test('the setup link creates the first admin and lands on the console', async () => {
    const token = await issueSetupToken(server.sql);
    await page.goto(`${server.url}/setup?token=${token}`);
    await page.getByLabel('Username').fill('grace');
    await page.getByLabel('Display name').fill('Grace Hopper');
    await page.getByLabel('Email').fill('grace@example.com');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create admin and sign in' }).click();
    // The server's field error appears under the field, and nothing is created.
    await expect.poll(() => page.getByText('Password must be at least 8 characters').count()).toBe(1);
    await shootBoth(page, 'setup');

    await page.getByLabel('Password').fill('a long passphrase');
    await page.getByLabel('Password').press('Enter');
    await page.waitForURL(`${server.url}/users`);
    await expect.poll(() => page.locator('tr[data-user="grace"]').count()).toBe(1);
  });

  test('sign out lands on the sign-in page with a message; the old session is gone', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login\?reason=signed_out/);
    await expect.poll(() => page.getByRole('status').first().textContent()).toMatch(/signed out/);
    const me = await page.evaluate(() => fetch('/api/v1/auth/me').then((r) => r.status));
    expect(me).toBe(401);
  });

  test('a wrong password shows the error; the right one signs in by email', async () => {
    await page.getByLabel('Email or username').fill('grace@example.com');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/login or password is wrong/);
    await shootBoth(page, 'login');

    await page.getByLabel('Password').fill('a long passphrase');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.url}/users`);
    await expect.poll(() => page.getByTestId('connection').textContent()).toMatch(/Live/);
  });

  test('a signed-out visitor to the console is sent to sign in', async () => {
    const fresh = await browser.newPage();
    await fresh.goto(`${server.url}/`);
    await fresh.waitForURL(/\/login/);
    await fresh.setViewportSize({ width: 390, height: 760 });
    await shootBoth(fresh, 'login-mobile');
    await fresh.goto(`${server.url}/register`);
    await expect.poll(() => fresh.getByRole('status').textContent()).toMatch(/Registration is closed/);
    await shootBoth(fresh, 'register-closed');
    await fresh.close();
  });
});
