import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { chromiumPath } from '../helpers/browser.ts';
import type { ResponseOf, SessionList } from '@roster/shared';
import { ApiClient, connectSocket, createTestUser } from '../helpers/clients.ts';
import { settles, signInPage, useTwoAdmins } from '../helpers/console.ts';
import { relyingParty, signInThroughRoster } from '../helpers/relying-party.ts';

// The user panel (the drawer a user opens in) while that user signs in, connects, and is changed
// or deleted by another admin: each test first checks what the open panel shows, then what
// opening it again after a reload shows.
describe.skipIf(!chromiumPath)('an open user panel stays current without a reload', () => {
  const fixture = useTwoAdmins();
  const { server, password } = fixture;

  const row = (page: Page, username: string) => page.locator(`tr[data-user="${username}"]`);

  async function version(username: string) {
    const [u] = await server.sql<{ id: string; version: number }[]>`SELECT id, version FROM users WHERE username = ${username}`;
    return u!;
  }

  /** What has keyboard focus, in words: its tag and its name. */
  const focused = (page: Page) =>
    page.evaluate(() => {
      const element = document.activeElement;
      if (!element || element === document.body) return 'body';
      return `${element.tagName.toLowerCase()} "${(element.getAttribute('aria-label') ?? element.textContent ?? '').trim()}"`;
    });

  async function openPanel(page: Page, username: string) {
    await row(page, username).waitFor();
    await row(page, username).locator('button.name').click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('.drawer-header').waitFor();
    return dialog;
  }

  test('user panel: a session that opens a live connection shows as online', async () => {
    await createTestUser(server, { username: 'olga', display_name: 'Olga Online', password });
    const olga = new ApiClient(server);
    await olga.signIn('olga', password);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, 'olga');
    const dot = panel.locator('.online-dot');
    await expect.poll(() => dot.getAttribute('aria-label')).toBe('Offline');
    const socket = await connectSocket(server, { cookie: olga.cookie });
    try {
      // The users table tells it at once (its own dot); the panel's sessions list should too.
      const live = await settles(() => expect.poll(() => dot.getAttribute('aria-label'), { timeout: 5000 }).toBe('Online now'));
      await page.reload();
      const reopened = await openPanel(page, 'olga');
      await expect.poll(() => reopened.locator('.online-dot').getAttribute('aria-label')).toBe('Online now'); // what a reload shows
      expect(live, 'the open panel shows the session online').toBe(true);
    } finally {
      socket.close();
      await context.close();
    }
  });

  test('user panel: the user signing in updates "Last sign-in"', async () => {
    await createTestUser(server, { username: 'lena', display_name: 'Lena Late', password });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, 'lena');
    const lastSignIn = panel.locator('dt:has-text("Last sign-in") + dd');
    await expect.poll(() => lastSignIn.textContent()).toMatch(/Never/);
    await new ApiClient(server).signIn('lena', password);
    await expect.poll(() => panel.locator('h3#sessions-title').textContent()).toMatch(/Sessions \(1\)/); // the sign-in reached the panel
    const live = await settles(() => expect.poll(() => lastSignIn.textContent(), { timeout: 5000 }).not.toMatch(/Never/));
    await page.reload();
    const reopened = await openPanel(page, 'lena');
    await expect.poll(() => reopened.locator('dt:has-text("Last sign-in") + dd').textContent()).not.toMatch(/Never/); // what a reload shows
    expect(live, 'the open panel shows the sign-in').toBe(true);
    await context.close();
  });

  test('user panel: "Keep my edits" after a conflict saves my edit, not the other admin\'s fields back', async () => {
    const kim = await createTestUser(server, { username: 'kim', display_name: 'Kim One', email: 'kim@example.com', password });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, 'kim');
    const email = panel.getByLabel('Email');
    await expect.poll(() => email.inputValue()).toBe('kim@example.com');
    await email.fill('kim.two@example.com'); // Brian edits the email only
    expect((await fixture.admin.patch(`/api/v1/users/${kim.id}`, { version: kim.version, display_name: 'Kim Ada' })).status).toBe(200);
    await panel.getByTestId('conflict').waitFor(); // told that Ada changed the display name
    expect(await panel.getByTestId('conflict').textContent()).toMatch(/display name/);
    await panel.getByRole('button', { name: 'Keep my edits' }).click();
    await panel.getByRole('button', { name: /^Save/ }).click();
    await expect.poll(async () => (await server.sql`SELECT email FROM users WHERE id = ${kim.id}`)[0]!.email).toBe('kim.two@example.com');
    const [saved] = await server.sql<{ display_name: string }[]>`SELECT display_name FROM users WHERE id = ${kim.id}`;
    expect(saved!.display_name, "Ada's display name, a field Brian never edited, is kept").toBe('Kim Ada');
    await context.close();
  });

  test('delete dialog open for a user another admin deletes: it does not stay open offering to delete them', async () => {
    await createTestUser(server, { username: 'zed', display_name: 'Zed Gone' });
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, 'zed');
    await panel.getByRole('button', { name: 'Delete user' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete Zed Gone?' });
    await confirm.waitFor();
    const zed = await version('zed');
    expect((await fixture.admin.delete(`/api/v1/users/${zed.id}`)).status).toBe(204);
    await row(page, 'zed').waitFor({ state: 'detached' }); // the deletion reached the page
    const closed = await settles(() => confirm.waitFor({ state: 'detached', timeout: 3000 }));
    let after = '';
    if (!closed) {
      await confirm.getByRole('button', { name: 'Delete zed' }).click();
      await page.waitForTimeout(500);
      after = (await confirm.textContent()) ?? '';
    }
    expect(closed, `the dialog for a deleted user stays open (after pressing Delete it says: ${after.slice(-120)})`).toBe(true);
    await context.close();
  });

  test('user panel: my own change from another tab does not silently discard my edits here', async () => {
    const u = await createTestUser(server, { username: 'tabby', display_name: 'Tabby Before', email: 'tabby@example.com' });
    const brianApi = new ApiClient(server);
    await brianApi.signIn('brian', password);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/users`);
    const panel = await openPanel(page, 'tabby');
    await panel.getByLabel('Display name').fill('Tabby Edited Here');
    expect((await brianApi.patch(`/api/v1/users/${u.id}`, { version: u.version, email: 'tabby2@example.com' })).status).toBe(200);
    await expect.poll(() => panel.locator('dt:has-text("Version") + dd').textContent()).toBe(String(u.version + 1));
    const kept = await panel.getByLabel('Display name').inputValue();
    expect(kept, 'the edit typed in this tab survives a change from my other tab').toBe('Tabby Edited Here');
    await context.close();
  });

  test('user panel: a question to revoke a session that ends meanwhile goes with its row', async () => {
    await createTestUser(server, { username: 'quinn', display_name: 'Quinn Quits', password });
    const quinn = new ApiClient(server);
    await quinn.signIn('quinn', password);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, 'quinn');
    await panel.getByRole('button', { name: 'Revoke', exact: true }).click();
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    expect((await quinn.post('/api/v1/auth/logout')).status).toBe(204);
    const live = await settles(() => question.waitFor({ state: 'detached', timeout: 3000 }));
    expect(live, 'no question left about a session that is gone').toBe(true);
    await context.close();
  });

  // A keyboard user whose question goes because its row went keeps their place: focus moves to
  // the same button of the row after (or before), else to the heading of the section that held
  // the row (README, "Questions before ending access").
  async function revokeFromKeyboard(username: string, sessions: number) {
    const user = await createTestUser(server, { username, display_name: `${username} Focus`, password });
    for (let n = 0; n < sessions; n++) await new ApiClient(server).signIn(username, password);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, username);
    const revoke = panel.getByRole('button', { name: 'Revoke', exact: true });
    await expect.poll(() => revoke.count()).toBe(sessions);
    await revoke.first().focus();
    await page.keyboard.press('Enter');
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    return { user, page, context, question };
  }

  /** Another admin revokes the session of the panel's first row. */
  async function revokeFirstElsewhere(userId: string) {
    // The panel lists them as this route does, in its order.
    const { items } = (await fixture.admin.ok('GET /sessions', { query: { user_id: userId } })) as SessionList;
    expect((await fixture.admin.delete(`/api/v1/sessions/${items[0]!.id}`)).status).toBe(204);
  }

  test('user panel: a question that goes with its row leaves focus on the next row\'s same button', async () => {
    const { user, page, context, question } = await revokeFromKeyboard('fern', 2);
    await revokeFirstElsewhere(user.id);
    await question.waitFor({ state: 'detached' });
    await expect.poll(() => focused(page)).toBe('button "Revoke"');
    await context.close();
  });

  test('user panel: a question that goes with the last row leaves focus on the heading of its section', async () => {
    const { user, page, context, question } = await revokeFromKeyboard('flint', 1);
    await revokeFirstElsewhere(user.id);
    await question.waitFor({ state: 'detached' });
    await expect.poll(() => focused(page)).toBe('h3 "Sessions (0)"');
    await context.close();
  });

  test('user panel: a question cancelled from the keyboard gives focus back to the button that asked it', async () => {
    const { page, context, question } = await revokeFromKeyboard('fay', 2);
    await question.getByRole('button', { name: 'Cancel' }).press('Enter');
    await question.waitFor({ state: 'detached' });
    const opener = page.getByRole('dialog').getByRole('button', { name: 'Revoke', exact: true }).first();
    await expect.poll(() => opener.evaluate((button) => button === document.activeElement)).toBe(true);
    await context.close();
  });

  test('user panel: a question to sign a user out of an application they are signed out of meanwhile goes with its row', async () => {
    const user = await createTestUser(server, { username: 'april', display_name: 'April Apps', password });
    const redirectUri = 'http://localhost:4999/callback';
    const { application, client_secret } = (await fixture.admin.ok('POST /applications', { body: { name: 'Wiki', redirect_uris: [redirectUri] } })) as ResponseOf<'POST /applications'>;
    const config = await relyingParty(server, application.client_id, client_secret);
    const april = new ApiClient(server);
    await april.signIn('april', password);
    await signInThroughRoster(server, april, config, redirectUri);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const panel = await openPanel(page, 'april');
    await panel.getByRole('button', { name: 'Sign april out of Wiki' }).click();
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    expect((await fixture.admin.delete(`/api/v1/users/${user.id}/applications/${application.id}`)).status).toBe(204);
    await panel.getByTestId('panel-applications').getByText('Not signed in to any application').waitFor(); // the sign-out reached the panel
    const live = await settles(() => question.waitFor({ state: 'detached', timeout: 3000 }));
    expect(live, 'no question left about an application they are signed out of').toBe(true);
    await context.close();
  });
});
