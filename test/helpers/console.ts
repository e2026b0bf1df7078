import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestServer } from './server.ts';

export const screenshots = 'test-results/screenshots';

/** A browser context of its own (its own cookies), signed in through the real sign-in page. */
export async function signInPage(
  browser: Browser,
  server: TestServer,
  login: string,
  password: string,
  options: { colorScheme?: 'light' | 'dark'; width?: number } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 800 },
    colorScheme: options.colorScheme ?? 'light',
  });
  // Fail at the step that does not happen, not at the test's timeout.
  context.setDefaultTimeout(8000);
  const page = await context.newPage();
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email or username').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { context, page };
}

/** Screenshots the page in light and dark, under `screenshots/<name>-light.png` / `-dark.png`. */
export async function shootBoth(page: Page, name: string) {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: `${screenshots}/${name}-${scheme}.png` });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}
