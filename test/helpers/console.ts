import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchBrowser } from './browser.ts';
import { ApiClient, connectSocket, createTestUser } from './clients.ts';
import { useTestServer, type TestServer } from './server.ts';

export const screenshots = 'test-results/screenshots';

/** A browser context of its own (its own cookies), signed in through the real sign-in page. */
export async function signInPage(
  browser: Browser,
  server: TestServer,
  login: string,
  password: string,
  // `live: false` for a page outside the console, which never opens the live connection.
  options: { colorScheme?: 'light' | 'dark'; width?: number; live?: boolean } = {},
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
  if (options.live !== false) await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
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

/**
 * What a page must never produce, collected as it runs: uncaught errors (unhandled promise
 * rejections included) and console errors. `allow` skips console messages a test provokes on
 * purpose (Chromium logs every 4xx/5xx response as "Failed to load resource").
 */
export function watchProblems(page: Page, allow: RegExp[] = []): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    if (message.type() === 'warning' && !/svelte|runes|state/i.test(message.text())) return;
    if (allow.some((pattern) => pattern.test(message.text()))) return;
    problems.push(`console.${message.type()}: ${message.text()}`);
  });
  return problems;
}

/** How far the page scrolls sideways (0 when it does not). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * Controls that are cut off sideways: a button, link or field reaching past the viewport or past
 * an ancestor that clips or scrolls its content. Vertical scrolling (long lists) is not a cut.
 */
export function clippedControls(page: Page, within = 'body'): Promise<string[]> {
  return page.evaluate((root) => {
    const cut: string[] = [];
    const controls = document.querySelector(root)?.querySelectorAll<HTMLElement>('button, a[href], input, select, textarea, [role="menuitem"]');
    for (const control of Array.from(controls ?? [])) {
      const box = control.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || getComputedStyle(control).visibility === 'hidden') continue;
      if (control.closest('.sr-only, [aria-hidden="true"]')) continue;
      const name = `${control.tagName.toLowerCase()} "${(control.getAttribute('aria-label') ?? control.textContent ?? '').trim().slice(0, 40)}"`;
      if (box.left < -1 || box.right > document.documentElement.clientWidth + 1) {
        cut.push(`${name} reaches past the viewport (${Math.round(box.left)}–${Math.round(box.right)})`);
        continue;
      }
      for (let parent = control.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
        if (getComputedStyle(parent).overflowX === 'visible') continue;
        const frame = parent.getBoundingClientRect();
        if (box.left < frame.left - 1 || box.right > frame.right + 1) {
          cut.push(`${name} is cut off by ${parent.tagName.toLowerCase()}.${Array.from(parent.classList).join('.')}`);
          break;
        }
      }
    }
    return cut;
  }, within);
}

const axeSource: string = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

/**
 * The axe-core rules whose answer depends on colours: all that can change when only the colour
 * scheme does (the dark scheme sets other values of the same custom properties, app.css).
 */
export const COLOUR_RULES = ['color-contrast', 'link-in-text-block'];

/** axe-core's serious and critical violations on the page as it is now, one line each; `rules` runs only those. */
export async function axeViolations(page: Page, rules?: string[]): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (rules) => {
    const axe = (window as unknown as { axe: { run: (context: unknown, options: unknown) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'], ...(rules && { runOnly: { type: 'rule', values: rules } }) });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  }, rules);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.targets.join(', ')}`);
}

/**
 * Holds back the answer to the page's next request that `matches`: the server reads it at once
 * (`read` resolves then), the page gets it on `release()` (`deliver()` also waits until it has).
 * Makes a page answer and the live events race in the order a test wants.
 */
export async function holdAnswer(page: Page, matches: (url: URL) => boolean) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let answered!: () => void;
  const read = new Promise<void>((resolve) => (answered = resolve));
  await page.route(
    matches,
    async (route) => {
      const response = await route.fetch();
      answered();
      await released;
      await route.fulfill({ response });
    },
    { times: 1 },
  );
  const deliver = async () => {
    const landed = page.waitForResponse((response) => matches(new URL(response.url())));
    release();
    await landed;
  };
  return { read, release, deliver };
}

/**
 * Leaves `page` and takes all twenty live connections of its session, so that the console's next
 * connection is refused (`too_many_connections`). The page's own connection closes on the server a
 * moment after it leaves: until it has, taking twenty is tried again.
 */
export async function takeLiveConnections(server: TestServer, context: BrowserContext, page: Page) {
  await page.goto('about:blank');
  const session = (await context.cookies()).find((cookie) => cookie.name === 'roster_session')!;
  for (let attempt = 0; attempt < 50; attempt++) {
    const tries = await Promise.allSettled(Array.from({ length: 20 }, () => connectSocket(server, { cookie: `roster_session=${session.value}` })));
    const taken = tries.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
    if (taken.length === 20) return taken;
    for (const socket of taken) socket.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the page's own live connection never closed");
}

/**
 * Routes the live channel of the context's pages through the test, which can hold the server's
 * messages back: every message (`hold()`) or those `pick` chooses, until `release()` sends them in
 * order. Set it up before the page connects (or reload the page).
 */
export async function holdableLiveMessages(context: BrowserContext) {
  let pick: ((message: string | Buffer) => boolean) | null = null;
  const held: (() => void)[] = [];
  await context.routeWebSocket(/\/socket\.io\//, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => upstream.send(message));
    upstream.onMessage((message) => (pick?.(message) ? held.push(() => ws.send(message)) : ws.send(message)));
  });
  return {
    hold: (which: (message: string | Buffer) => boolean = () => true) => void (pick = which),
    /** How many messages are held. */
    get held() {
      return held.length;
    },
    release: () => {
      pick = null;
      for (const send of held.splice(0)) send();
    },
  };
}

/** Whether an expectation came true (a test goes on to check what a reload shows, then reports it). */
export const settles = (check: () => Promise<unknown>) => check().then(() => true, () => false);

/**
 * The fixture of the live browser tests: the server with the console, Chromium, and two admins
 * with `password`: ada, also signed in through the API as `admin` to act as another admin would,
 * and brian, who usually watches in the browser. `browser` and `admin` exist from `beforeAll` on.
 */
export function useTwoAdmins() {
  const fixture = { server: useTestServer({ web: true }), password: 'correct horse battery' } as { server: TestServer; password: string; browser: Browser; admin: ApiClient };
  beforeAll(async () => {
    const { server, password } = fixture;
    await createTestUser(server, { role: 'admin', username: 'ada', display_name: 'Ada Lovelace', password });
    await createTestUser(server, { role: 'admin', username: 'brian', display_name: 'Brian Kernighan', password });
    fixture.browser = await launchBrowser();
    fixture.admin = new ApiClient(server);
    await fixture.admin.signIn('ada', password);
  });
  afterAll(async () => {
    await fixture.browser?.close();
  });
  return fixture;
}

