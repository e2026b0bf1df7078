import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * CHROMIUM_PATH, or Debian's Chromium: its headless shell (installed by `.ci/run`) first, which
 * renders the same pages for 40 % of the full browser's CPU (docs/testing.md). Browser tests never
 * download a browser.
 */
export const chromiumPath = [process.env.CHROMIUM_PATH, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (path): path is string => Boolean(path && existsSync(path)),
);

if (!chromiumPath && process.env.CI) {
  throw new Error('Browser tests need Chromium: install Debian\'s "chromium-headless-shell" (or "chromium") package or set CHROMIUM_PATH');
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Flags for a sandboxed CI box with no network beyond loopback.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
