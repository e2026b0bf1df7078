import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { chromiumPath } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { screenshots, settles, signInPage, useTwoAdmins } from '../helpers/console.ts';
import { enrolTotp } from '../helpers/totp.ts';

// The account page's two-factor section while the same person changes it in another tab (here the
// API, signed in as them): each test first checks what the open page shows, then what a reload shows.
describe.skipIf(!chromiumPath)('the two-factor section stays current without a reload', () => {
  const fixture = useTwoAdmins();
  const { server, password } = fixture;

  /** `username` signed in twice: in a browser on the account page, and through the API as their other tab. */
  async function twoTabs(username: string) {
    await createTestUser(server, { username, display_name: `${username} One`, password });
    const { page, context } = await signInPage(fixture.browser, server, username, password);
    await page.goto(`${server.url}/account`);
    const other = new ApiClient(server);
    await other.signIn(username, password);
    return { page, context, other, section: page.getByTestId('two-factor') };
  }

  const stateOf = (page: Page) => page.getByTestId('two-factor').locator('.state').textContent();

  test('turned on in another tab while this one is setting it up: this one shows it on and offers no setup', async () => {
    const { page, context, other, section } = await twoTabs('una');
    await section.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    await section.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await section.getByTestId('totp-setup').waitFor();
    await enrolTotp(other);
    const live = await settles(async () => {
      await expect.poll(() => stateOf(page), { timeout: 5000 }).toBe('On');
      // What it offers is what an account with two-factor sign-in on offers, not a setup started for one without it.
      await section.getByRole('button', { name: 'Replace authenticator' }).waitFor({ timeout: 2000 });
    });
    const offered = await section.getByRole('button').allInnerTexts();
    await page.reload();
    await page.getByTestId('two-factor').getByRole('button', { name: 'Replace authenticator' }).waitFor(); // what a reload shows
    expect({ live, offered }).toEqual({ live: true, offered: ['Turn off', 'New recovery codes', 'Replace authenticator'] });
    await context.close();
  });

  test('recovery codes shown here go when two-factor sign-in is turned off in another tab', async () => {
    const { page, context, other, section } = await twoTabs('vic');
    await enrolTotp(other);
    await expect.poll(() => stateOf(page)).toBe('On');
    await section.getByRole('button', { name: 'New recovery codes' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Make new codes' }).click();
    const codes = section.getByTestId('recovery-codes');
    await codes.waitFor();
    expect((await other.api('DELETE /me/two-factor')).status).toBe(204);
    const live = await settles(() => codes.waitFor({ state: 'detached', timeout: 5000 }));
    const state = await stateOf(page);
    await page.getByText('the recovery codes shown no longer work').waitFor(); // told why they went
    await page.screenshot({ path: `${screenshots}/two-factor-off-elsewhere.png` });
    await page.reload();
    await expect.poll(() => stateOf(page)).toBe('Off'); // what a reload shows
    expect({ live, state }, 'codes that no longer work are not offered to be saved').toEqual({ live: true, state: 'Off' });
    await context.close();
  });

  test('new recovery codes made in another tab: codes shown here go, the tab that made them keeps its own', async () => {
    const { page, context, other, section } = await twoTabs('xan');
    await enrolTotp(other);
    // A second tab of the same browser (the same session) on the account page.
    const second = await context.newPage();
    await second.goto(`${server.url}/account`);
    await second.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const secondSection = second.getByTestId('two-factor');
    await expect.poll(() => stateOf(second)).toBe('On');
    const newCodes = async (target: Page) => {
      const made = target.waitForResponse((r) => r.url().endsWith('/api/v1/me/two-factor/recovery-codes'));
      await target.getByTestId('two-factor').getByRole('button', { name: 'New recovery codes' }).click();
      await target.getByRole('alertdialog').getByRole('button', { name: 'Make new codes' }).click();
      return ((await (await made).json()) as { recovery_codes: string[] }).recovery_codes;
    };
    const shown = (s: typeof section) => s.getByTestId('recovery-codes').locator('code').allInnerTexts();

    await newCodes(page);
    await section.getByTestId('recovery-codes').waitFor();
    // Both tabs read their status again on the event of the new codes the second one makes.
    const reads = [page, second].map((tab) => tab.waitForResponse((r) => r.url().endsWith('/api/v1/me/two-factor') && r.request().method() === 'GET'));
    const made = await newCodes(second);
    await secondSection.getByTestId('recovery-codes').waitFor();
    await Promise.all(reads);
    const live = await settles(() => section.getByTestId('recovery-codes').waitFor({ state: 'detached', timeout: 5000 }));
    const told = await settles(() => page.getByText('the recovery codes shown here no longer work').waitFor({ timeout: 2000 }));
    await page.bringToFront(); // a tab in the background does not run the toast's entrance
    await page.locator('[data-sonner-toast][data-mounted="true"]').waitFor().catch(() => undefined);
    await page.screenshot({ path: `${screenshots}/recovery-codes-replaced-elsewhere.png` });
    expect({ live, told, keptOwn: await shown(secondSection) }, 'codes that no longer work go, saying why; the new ones stay where they were made').toEqual({
      live: true,
      told: true,
      keptOwn: made,
    });
    await context.close();
  });

  test('a question to turn it off or make new codes goes when it is turned off in another tab', async () => {
    const { page, context, other, section } = await twoTabs('wes');
    for (const button of ['Turn off', 'New recovery codes']) {
      await enrolTotp(other);
      await expect.poll(() => stateOf(page)).toBe('On');
      await section.getByRole('button', { name: button }).click();
      const question = page.getByRole('alertdialog');
      await question.waitFor();
      expect((await other.api('DELETE /me/two-factor')).status).toBe(204);
      await expect.poll(() => stateOf(page)).toBe('Off');
      const live = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
      expect(live, `no "${button}" question left once it is off`).toBe(true);
    }
    await context.close();
  });
});
