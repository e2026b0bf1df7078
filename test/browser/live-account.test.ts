import { describe, expect, test } from 'vitest';
import { chromiumPath } from '../helpers/browser.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { holdableLiveMessages, settles, signInPage, useTwoAdmins } from '../helpers/console.ts';

// The account page's profile while an admin changes the same user: each test first checks what
// the open page shows or saves, then what a reload shows.
describe.skipIf(!chromiumPath)('the account page stays current without a reload', () => {
  const fixture = useTwoAdmins();
  const { server, password } = fixture;


  test('account page: the profile form shows a display name another admin changed', async () => {
    const pia = await createTestUser(server, { username: 'pia', display_name: 'Pia One', password });
    const { page, context } = await signInPage(fixture.browser, server, 'pia', password);
    await page.goto(`${server.url}/account`);
    const name = page.getByLabel('Display name');
    await expect.poll(() => name.inputValue()).toBe('Pia One');
    expect((await fixture.admin.patch(`/api/v1/users/${pia.id}`, { version: pia.version, display_name: 'Pia Two' })).status).toBe(200);
    const live = await settles(() => expect.poll(() => name.inputValue(), { timeout: 5000 }).toBe('Pia Two'));
    await page.reload();
    await expect.poll(() => page.getByLabel('Display name').inputValue()).toBe('Pia Two'); // what a reload shows
    expect(live, 'the live form shows the new name').toBe(true);
    await context.close();
  });

  test("account page: saving the profile does not silently put back an email an admin changed", async () => {
    const quin = await createTestUser(server, { username: 'quin', display_name: 'Quin One', email: 'quin@example.com', password });
    const { page, context } = await signInPage(fixture.browser, server, 'quin', password);
    await page.goto(`${server.url}/account`);
    const name = page.getByLabel('Display name');
    await expect.poll(() => name.inputValue()).toBe('Quin One');
    expect((await fixture.admin.patch(`/api/v1/users/${quin.id}`, { version: quin.version, email: 'quin.new@example.com' })).status).toBe(200);
    // The change reached the page and its handlers ran: the field she is not editing shows it (a
    // frame seen on the wire says neither; a save sent before would meet a conflict, not the bug).
    await expect.poll(() => page.getByLabel('Email').inputValue()).toBe('quin.new@example.com');
    await name.fill('Quin Two'); // she changes only her display name
    await page.getByRole('button', { name: 'Save profile' }).click();
    await expect.poll(async () => (await server.sql`SELECT display_name FROM users WHERE id = ${quin.id}`)[0]!.display_name).toBe('Quin Two');
    const [after] = await server.sql<{ email: string }[]>`SELECT email FROM users WHERE id = ${quin.id}`;
    expect(after!.email, "the admin's new email is kept (or the save is refused as a conflict)").toBe('quin.new@example.com');
    await context.close();
  });
  test('account page: a save that meets a change not yet arrived is refused, shows the change, and saves on top of it next', async () => {
    const rae = await createTestUser(server, { username: 'rae', display_name: 'Rae One', email: 'rae@example.com', password });
    const { page, context } = await signInPage(fixture.browser, server, 'rae', password);
    // The admin's change is held on its way, so the save is sent on the version before it.
    const messages = await holdableLiveMessages(context);
    await page.goto(`${server.url}/account`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const name = page.getByLabel('Display name');
    const email = page.getByLabel('Email');
    await expect.poll(() => name.inputValue()).toBe('Rae One');
    messages.hold();
    expect((await fixture.admin.patch(`/api/v1/users/${rae.id}`, { version: rae.version, email: 'rae.new@example.com' })).status).toBe(200);
    await name.fill('Rae Two');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Someone else changed/);
    await expect.poll(() => email.inputValue()).toBe('rae.new@example.com'); // their change, shown
    expect(await name.inputValue()).toBe('Rae Two'); // her edit, kept
    await page.getByRole('button', { name: 'Save profile' }).click();
    await expect.poll(async () => (await server.sql`SELECT display_name, email FROM users WHERE id = ${rae.id}`)[0]).toEqual({ display_name: 'Rae Two', email: 'rae.new@example.com' });
    messages.release();
    await context.close();
  });

  test('account page: a saved name with a trailing space leaves nothing unsaved, and the field still follows an admin', async () => {
    const sam = await createTestUser(server, { username: 'sam', display_name: 'Sam One', password });
    const { page, context } = await signInPage(fixture.browser, server, 'sam', password);
    await page.goto(`${server.url}/account`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const name = page.getByLabel('Display name');
    await expect.poll(() => name.inputValue()).toBe('Sam One');
    await name.fill('Sam Two '); // a trailing space, as typed
    const save = page.getByRole('button', { name: 'Save profile' });
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const [stored] = await server.sql<{ display_name: string; version: number }[]>`SELECT display_name, version FROM users WHERE id = ${sam.id}`;
    expect(stored!.display_name).toBe('Sam Two');
    // An admin renames her: the field she is not editing follows.
    expect((await fixture.admin.patch(`/api/v1/users/${sam.id}`, { version: stored!.version, display_name: 'Sam Three' })).status).toBe(200);
    const follows = await expect.poll(() => name.inputValue(), { timeout: 5000 }).toBe('Sam Three').then(() => true, () => false);
    expect({ saveEnabledAfterSave: await save.isEnabled(), follows }).toEqual({ saveEnabledAfterSave: false, follows: true });
    await context.close();
  });

  test("account page: after saving a name with a trailing space, changing the email later does not put back the name an admin set", async () => {
    const tia = await createTestUser(server, { username: 'tia', display_name: 'Tia One', email: 'tia@example.com', password });
    const { page, context } = await signInPage(fixture.browser, server, 'tia', password);
    await page.goto(`${server.url}/account`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const name = page.getByLabel('Display name');
    await expect.poll(() => name.inputValue()).toBe('Tia One');
    await name.fill('Tia Two ');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const [stored] = await server.sql<{ version: number }[]>`SELECT version FROM users WHERE id = ${tia.id}`;
    expect((await fixture.admin.patch(`/api/v1/users/${tia.id}`, { version: stored!.version, display_name: 'Tia Admin' })).status).toBe(200);
    // The admin's event reached the page: the name she no longer edits follows it (a save sent
    // before it would meet a conflict instead, and save nothing).
    await expect.poll(() => name.inputValue()).toBe('Tia Admin');
    // Later she changes only her email (an email change may ask for her password first).
    await page.getByLabel('Email').fill('tia.two@example.com');
    await page.getByRole('button', { name: 'Save profile' }).click();
    const dialog = page.getByRole('dialog');
    if (await dialog.isVisible().catch(() => false)) {
      await dialog.getByLabel(/password/i).fill(password);
      await dialog.getByRole('button', { name: /confirm/i }).click();
    }
    await expect.poll(async () => (await server.sql`SELECT email FROM users WHERE id = ${tia.id}`)[0]!.email, { timeout: 5000 }).toBe('tia.two@example.com');
    const [after] = await server.sql<{ display_name: string }[]>`SELECT display_name FROM users WHERE id = ${tia.id}`;
    expect(after!.display_name, "the admin's name, which she did not touch after her save, stands").toBe('Tia Admin');
    await context.close();
  });

  test('account page: a question about a key or a session that another tab ended meanwhile goes with it', async () => {
    await createTestUser(server, { username: 'uma', display_name: 'Uma One', password });
    const { page, context } = await signInPage(fixture.browser, server, 'uma', password);
    const other = new ApiClient(server);
    await other.signIn('uma', password);
    const key = (await other.ok('POST /api-keys', { body: { name: 'script' } })) as { api_key: { id: string } };
    await page.goto(`${server.url}/account`);
    const question = page.getByRole('alertdialog');
    await page.getByRole('button', { name: 'Revoke key script' }).click();
    await question.waitFor();
    expect((await other.api('DELETE /api-keys/:id', { params: { id: key.api_key.id } })).status).toBe(204);
    await page.getByRole('button', { name: 'Revoke key script' }).waitFor({ state: 'detached' });
    const keyQuestion = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
    if (keyQuestion === false) await page.keyboard.press('Escape');
    await page.getByRole('button', { name: /^Sign out .*127\.0\.0\.1/ }).click();
    await question.waitFor();
    await other.api('POST /auth/logout');
    await page.getByRole('button', { name: /^Sign out .*127\.0\.0\.1/ }).waitFor({ state: 'detached' });
    const sessionQuestion = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
    expect({ keyQuestion, sessionQuestion }).toEqual({ keyQuestion: true, sessionQuestion: true });
    await context.close();
  });
});
