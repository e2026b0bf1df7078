import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import type { Application } from '@roster/shared';
import { chromiumPath } from '../helpers/browser.ts';
import { holdableLiveMessages, holdAnswer, settles, signInPage, useTwoAdmins } from '../helpers/console.ts';

// The Applications page while another admin registers, changes and removes applications: whichever
// arrives first, the page's answer or the events, the list ends up as the server has it, in its order.
describe.skipIf(!chromiumPath)('the Applications page ends up as the server has it', () => {
  const fixture = useTwoAdmins();
  const { server, password } = fixture;
  let round = 0;

  const register = async (name: string) =>
    (await fixture.admin.ok('POST /applications', { body: { name, redirect_uris: ['https://app.example.com/callback'] } })).application as Application;

  /** The applications as the server lists them: name and client id, in order. */
  const onServer = async () => ((await fixture.admin.ok('GET /applications')) as { items: Application[] }).items.map((a) => `${a.name} ${a.client_id}`);
  /** The rows the page shows, as on the server, once they are as many as the server has. */
  async function shown(page: Page): Promise<string[]> {
    const rows = page.locator('tr[data-application]');
    const count = (await onServer()).length;
    await expect.poll(() => rows.count()).toBe(count);
    return rows.evaluateAll((trs) => trs.map((tr) => `${tr.getAttribute('data-application')} ${tr.querySelector('td[data-label="Client ID"] code')!.textContent}`));
  }

  /** Another admin's changes: names that a linguistic order and code-unit order sort differently, and two of the same name. */
  async function changes() {
    const n = ++round;
    const renamed = await register(`zeta ${n}`);
    const removed = await register(`Gone ${n}`);
    return async () => {
      await register(`Wiki`);
      await register(`alpha ${n}`);
      expect((await fixture.admin.patch(`/api/v1/applications/${renamed.id}`, { version: renamed.version, name: `Zeta ${n}` })).status).toBe(200);
      expect((await fixture.admin.delete(`/api/v1/applications/${removed.id}`)).status).toBe(204);
    };
  }

  test('changes made while the page is on its way (their events first), then one more live', async () => {
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    for (let i = 0; i < 3; i++) {
      const change = await changes();
      const frames: string[] = [];
      page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => void frames.push(String(payload))));
      const { read, deliver } = await holdAnswer(page, (url) => url.pathname === '/api/v1/applications');
      await page.goto(`${server.url}/applications`);
      await read;
      await change();
      await expect.poll(() => frames.some((f) => f.includes('application.deleted'))).toBe(true); // the events reached the page
      await deliver();
      expect(await shown(page), `round ${i}, after the page`).toEqual(await onServer());
      await register(`Beta ${i}`);
      await register('Wiki');
      expect(await shown(page), `round ${i}, after live changes`).toEqual(await onServer());
    }
    await context.close();
  });

  test('changes whose events are still on their way when the page is read (the page first, the events after it)', async () => {
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const messages = await holdableLiveMessages(context);
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    for (let i = 0; i < 3; i++) {
      const change = await changes();
      messages.hold((message) => String(message).includes('"event"'));
      await change();
      await page.getByRole('link', { name: 'Applications' }).click();
      await page.locator('tr[data-application]').first().waitFor();
      messages.release();
      expect(await shown(page), `round ${i}`).toEqual(await onServer());
      await page.getByRole('link', { name: 'Users' }).click();
    }
    await context.close();
  });

  test('a question about an application another admin removes meanwhile goes with its row', async () => {
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/applications`);
    for (const action of ['Disable', 'New secret', 'Remove']) {
      const application = await register(`Doomed ${action}`);
      const row = page.locator(`tr[data-application="Doomed ${action}"]`);
      await row.getByRole('button', { name: action }).click();
      const question = page.getByRole('alertdialog');
      await question.waitFor();
      expect((await fixture.admin.delete(`/api/v1/applications/${application.id}`)).status).toBe(204);
      await row.waitFor({ state: 'detached' });
      const live = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
      expect(live, `no "${action}" question left about an application that is gone`).toBe(true);
    }
    await context.close();
  });

  test('the Edit dialog: Escape closes it and the focus is back on Edit; it closes when another admin removes the application', async () => {
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const application = await register('Edited then gone');
    await page.goto(`${server.url}/applications`);
    const edit = page.locator('tr[data-application="Edited then gone"]').getByRole('button', { name: 'Edit' });
    await edit.click();
    const dialog = page.getByRole('dialog', { name: 'Edit Edited then gone' });
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('name'); // typing can begin
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await edit.evaluate((button) => button === document.activeElement)).toBe(true);
    await edit.press('Enter');
    await dialog.waitFor();
    expect((await fixture.admin.delete(`/api/v1/applications/${application.id}`)).status).toBe(204);
    await page.locator('tr[data-application="Edited then gone"]').waitFor({ state: 'detached' });
    const closes = await settles(() => dialog.waitFor({ state: 'detached', timeout: 2000 }));
    const alert = closes ? null : await page.getByRole('dialog').textContent();
    expect({ closes, alert }, 'no edit left open on an application that is gone').toEqual({ closes: true, alert: null });
    await context.close();
  });
});
