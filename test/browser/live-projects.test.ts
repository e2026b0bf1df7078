import { describe, expect, test } from 'vitest';
import { chromiumPath } from '../helpers/browser.ts';
import { createTestUser } from '../helpers/clients.ts';
import { holdAnswer, settles, shootBoth, signInPage, useTwoAdmins } from '../helpers/console.ts';

// Projects and applications stay current without a reload: the people they name (deleted,
// renamed), the signed-in user's own role, and their edit dialogs when another admin saves first.
// Each test first checks what the live page shows, then what a reload shows.
describe.skipIf(!chromiumPath)('projects and applications stay current without a reload', () => {
  const fixture = useTwoAdmins();
  const { server, password } = fixture;


  async function createProject(name: string, ownerId: string, memberIds: string[] = []) {
    const response = await fixture.admin.api('POST /projects', { body: { name, owner_id: ownerId, member_ids: memberIds } as never });
    expect(response.status).toBe(201);
    return (response.body as { project: { id: string; version: number } }).project;
  }

  test('projects page: a member who is deleted leaves the project\'s members', async () => {
    const owner = await createTestUser(server, { username: 'owen', display_name: 'Owen Owner' });
    const mona = await createTestUser(server, { username: 'mona', display_name: 'Mona Member' });
    await createProject('Mona project', owner.id, [mona.id]);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/projects`);
    const project = page.locator('tr[data-project="Mona project"]');
    await expect.poll(() => project.textContent()).toMatch(/@mona/);
    expect((await fixture.admin.delete(`/api/v1/users/${mona.id}`)).status).toBe(204);
    const live = await settles(() => expect.poll(() => project.textContent(), { timeout: 5000 }).not.toMatch(/@mona/));
    await page.reload();
    await expect.poll(() => page.locator('tr[data-project="Mona project"]').textContent()).not.toMatch(/@mona/); // what a reload shows
    expect(live, 'the live list drops the deleted member').toBe(true);
    await context.close();
  });

  test("projects page of a plain member: another member who is deleted leaves the project's members", async () => {
    // A plain user receives only events about themselves and their projects: the project's own event must tell her.
    const owner = await createTestUser(server, { username: 'oona', display_name: 'Oona Owner' });
    const pam = await createTestUser(server, { username: 'pam', display_name: 'Pam Plain', password });
    const milo = await createTestUser(server, { username: 'milo', display_name: 'Milo Member' });
    await createProject('Shared project', owner.id, [pam.id, milo.id]);
    const { page, context } = await signInPage(fixture.browser, server, 'pam', password);
    await page.goto(`${server.url}/projects`);
    const project = page.locator('tr[data-project="Shared project"]');
    await expect.poll(() => project.textContent()).toMatch(/@milo/);
    expect((await fixture.admin.delete(`/api/v1/users/${milo.id}`)).status).toBe(204);
    const live = await settles(() => expect.poll(() => project.textContent(), { timeout: 5000 }).not.toMatch(/@milo/));
    await page.reload();
    await expect.poll(() => page.locator('tr[data-project="Shared project"]').textContent()).not.toMatch(/@milo/); // what a reload shows
    expect(await page.locator('tr[data-project="Shared project"]').textContent()).toMatch(/@pam/);
    expect(live, 'the live list drops the deleted member').toBe(true);
    await context.close();
  });

  test("projects page: an owner who is renamed shows with the new name", async () => {
    const owner = await createTestUser(server, { username: 'rene', display_name: 'Rene Before' });
    await createProject('Rene project', owner.id);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/projects`);
    const project = page.locator('tr[data-project="Rene project"]');
    await expect.poll(() => project.textContent()).toMatch(/Rene Before/);
    expect((await fixture.admin.patch(`/api/v1/users/${owner.id}`, { version: owner.version, display_name: 'Rene After' })).status).toBe(200);
    const live = await settles(() => expect.poll(() => project.textContent(), { timeout: 5000 }).toMatch(/Rene After/));
    await page.reload();
    await expect.poll(() => page.locator('tr[data-project="Rene project"]').textContent()).toMatch(/Rene After/); // what a reload shows
    expect(live, 'the live list shows the new name').toBe(true);
    await context.close();
  });

  test('projects page of an admin demoted to a plain user: projects no longer theirs leave the list', async () => {
    const dora = await createTestUser(server, { role: 'admin', username: 'dora', display_name: 'Dora Demoted', password });
    const someone = await createTestUser(server, { username: 'sid', display_name: 'Sid Someone' });
    await createProject('Not Doras', someone.id);
    await createProject('Doras own', dora.id);
    const { page, context } = await signInPage(fixture.browser, server, 'dora', password);
    await page.goto(`${server.url}/projects`);
    await page.locator('tr[data-project="Not Doras"]').waitFor();
    await page.getByRole('button', { name: 'New project' }).waitFor();
    expect((await fixture.admin.patch(`/api/v1/users/${dora.id}`, { version: dora.version, role: 'user' })).status).toBe(200);
    // Control: the role reached the page (the staff-only button is gone).
    await expect.poll(() => page.getByRole('button', { name: 'New project' }).count()).toBe(0);
    const live = await settles(() => expect.poll(() => page.locator('tr[data-project="Not Doras"]').count(), { timeout: 5000 }).toBe(0));
    await page.reload();
    await page.locator('tr[data-project="Doras own"]').waitFor();
    expect(await page.locator('tr[data-project="Not Doras"]').count()).toBe(0); // a reload no longer lists it
    expect(live, 'the live list drops the projects she may no longer see').toBe(true);
    await context.close();
  });

  test('projects page of a plain user promoted to admin: every project shows', async () => {
    const gus = await createTestUser(server, { username: 'gus', display_name: 'Gus Promoted', password });
    const someone = await createTestUser(server, { username: 'hal', display_name: 'Hal Someone' });
    await createProject('Not Gus', someone.id);
    await createProject('Gus own', gus.id);
    const { page, context } = await signInPage(fixture.browser, server, 'gus', password);
    await page.goto(`${server.url}/projects`);
    await page.locator('tr[data-project="Gus own"]').waitFor();
    expect(await page.locator('tr[data-project="Not Gus"]').count()).toBe(0);
    expect((await fixture.admin.patch(`/api/v1/users/${gus.id}`, { version: gus.version, role: 'admin' })).status).toBe(200);
    await page.getByRole('button', { name: 'New project' }).waitFor(); // control: the role reached the page
    const live = await settles(() => expect.poll(() => page.locator('tr[data-project="Not Gus"]').count(), { timeout: 5000 }).toBe(1));
    await page.reload();
    await page.locator('tr[data-project="Not Gus"]').waitFor(); // a reload lists it
    expect(live, 'the live list shows every project to the new admin').toBe(true);
    await context.close();
  });

  test('projects page: a rename while the list loads shows the new name', async () => {
    const owner = await createTestUser(server, { username: 'ivy', display_name: 'Ivy Owner' });
    const project = await createProject('Ivy before', owner.id);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const { read, deliver } = await holdAnswer(page, (url) => url.pathname === '/api/v1/projects');
    await page.getByRole('link', { name: 'Projects' }).click();
    await read;
    expect((await fixture.admin.patch(`/api/v1/projects/${project.id}`, { version: project.version, name: 'Ivy after' })).status).toBe(200);
    await page.waitForTimeout(500); // the event reached the page
    await deliver();
    const live = await settles(() => page.locator('tr[data-project="Ivy after"]').waitFor({ timeout: 5000 }));
    expect(await page.locator('tr[data-project="Ivy before"]').count()).toBe(0);
    expect(live).toBe(true);
    await context.close();
  });

  test('rename dialog: another admin renames the project meanwhile; the dialog can still save after the conflict', async () => {
    const owner = await createTestUser(server, { username: 'rhea', display_name: 'Rhea Owner' });
    const project = await createProject('Rename me', owner.id);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/projects`);
    await page.locator('tr[data-project="Rename me"]').getByRole('button', { name: 'Rename' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').waitFor();
    expect((await fixture.admin.patch(`/api/v1/projects/${project.id}`, { version: project.version, name: 'Renamed by Ada' })).status).toBe(200);
    await page.locator('tr[data-project="Renamed by Ada"]').waitFor(); // the list behind the dialog has it
    await dialog.getByLabel('Name').fill('Renamed by Brian');
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await dialog.getByRole('alert').waitFor(); // the conflict is told
    expect(await dialog.getByRole('alert').textContent()).toMatch(/Someone else changed/);
    await shootBoth(page, 'project-rename-conflict');
    // Having seen it, Brian saves his name on top: it should go through (or the dialog should show Ada's name to base it on).
    await dialog.getByRole('button', { name: 'Rename' }).click();
    const saved = await settles(() => expect.poll(() => page.locator('tr[data-project="Renamed by Brian"]').count(), { timeout: 5000 }).toBe(1));
    expect(saved, 'a second save after the conflict goes through').toBe(true);
    await context.close();
  });

  test('applications page: a person allowed in who is deleted no longer counts', async () => {
    const ulla = await createTestUser(server, { username: 'ulla', display_name: 'Ulla Allowed' });
    const made = await fixture.admin.post('/api/v1/applications', {
      name: 'Ulla app',
      redirect_uris: ['https://ulla.example.com/callback'],
      access: 'users',
      user_ids: [ulla.id],
    });
    expect(made.status).toBe(201);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/applications`);
    const app = page.locator('tr[data-application="Ulla app"]');
    await expect.poll(() => app.textContent()).toMatch(/1 person/);
    expect((await fixture.admin.delete(`/api/v1/users/${ulla.id}`)).status).toBe(204);
    const live = await settles(() => expect.poll(() => app.textContent(), { timeout: 5000 }).toMatch(/Nobody yet/));
    await page.reload();
    await expect.poll(() => page.locator('tr[data-application="Ulla app"]').textContent()).toMatch(/Nobody yet/); // what a reload shows
    expect(live, 'the live list no longer counts her').toBe(true);
    await context.close();
  });

  test('applications page: a person allowed in who is renamed shows with the new name when the application is edited', async () => {
    const ugo = await createTestUser(server, { username: 'ugo', display_name: 'Ugo Before' });
    const made = await fixture.admin.post('/api/v1/applications', {
      name: 'Ugo app',
      redirect_uris: ['https://ugo.example.com/callback'],
      access: 'users',
      user_ids: [ugo.id],
    });
    expect(made.status).toBe(201);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    const frames: string[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => void frames.push(String(payload))));
    await page.goto(`${server.url}/applications`);
    const app = page.locator('tr[data-application="Ugo app"]');
    await expect.poll(() => app.textContent()).toMatch(/1 person/);
    expect((await fixture.admin.patch(`/api/v1/users/${ugo.id}`, { version: ugo.version, display_name: 'Ugo After' })).status).toBe(200);
    await expect.poll(() => frames.some((f) => f.includes('user.updated') && f.includes('Ugo After'))).toBe(true); // the rename reached the page
    await app.getByRole('button', { name: 'Edit' }).click();
    const people = page.getByRole('dialog').getByRole('list', { name: 'People who may sign in' });
    await people.waitFor();
    expect(await people.textContent(), 'the dialog names her as she is called now').toMatch(/Ugo After/);
    await context.close();
  });

  test('application dialog: another admin changes the application meanwhile; the dialog can still save after the conflict', async () => {
    const made = await fixture.admin.post('/api/v1/applications', { name: 'Edit me app', redirect_uris: ['https://edit.example.com/callback'] });
    expect(made.status).toBe(201);
    const app = (made.body as { application: { id: string; version: number } }).application;
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/applications`);
    await page.locator('tr[data-application="Edit me app"]').getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').waitFor();
    expect((await fixture.admin.patch(`/api/v1/applications/${app.id}`, { version: app.version, enabled: false })).status).toBe(200);
    await expect.poll(() => page.locator('tr[data-application="Edit me app"]').textContent()).toMatch(/Disabled/); // the list behind has it
    await dialog.getByLabel('Name').fill('Edited app');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByRole('alert').waitFor();
    expect(await dialog.getByRole('alert').textContent()).toMatch(/Someone else changed/);
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    const saved = await settles(() => expect.poll(() => page.locator('tr[data-application="Edited app"]').count(), { timeout: 5000 }).toBe(1));
    expect(saved, 'a second save after the conflict goes through').toBe(true);
    await context.close();
  });

  test('application dialog: saving after a conflict keeps what the other admin changed and this one did not edit', async () => {
    const made = await fixture.admin.post('/api/v1/applications', { name: 'Merge app', redirect_uris: ['https://merge.example.com/callback'] });
    expect(made.status).toBe(201);
    const app = (made.body as { application: { id: string; version: number } }).application;
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/applications`);
    await page.locator('tr[data-application="Merge app"]').getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Merged app'); // Brian edits the name only
    const uris = ['https://merge.example.com/callback', 'https://merge.example.com/other'];
    expect((await fixture.admin.patch(`/api/v1/applications/${app.id}`, { version: app.version, redirect_uris: uris })).status).toBe(200);
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByRole('alert').waitFor();
    expect(await dialog.getByRole('alert').textContent(), 'the conflict names what Ada changed').toMatch(/redirect URIs/);
    await expect.poll(() => dialog.getByLabel('Redirect URIs', { exact: true }).inputValue(), { message: "the form shows Ada's URIs" }).toBe(uris.join('\n'));
    expect(await dialog.getByLabel('Name').inputValue(), "Brian's edit is kept").toBe('Merged app');
    await shootBoth(page, 'application-conflict');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('tr[data-application="Merged app"]').waitFor();
    const [row] = await server.sql<{ name: string; redirect_uris: string[] }[]>`SELECT name, redirect_uris FROM applications WHERE id = ${app.id}`;
    expect(row, "Ada's URIs, which Brian never edited, are kept").toEqual({ name: 'Merged app', redirect_uris: uris });
    await context.close();
  });

  test('application dialog: a blank line added to the redirect URIs is no edit that would put them back after a conflict', async () => {
    const made = await fixture.admin.post('/api/v1/applications', { name: 'Blank app', redirect_uris: ['https://blank.example.com/callback'] });
    const app = (made.body as { application: { id: string; version: number } }).application;
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/applications`);
    await page.locator('tr[data-application="Blank app"]').getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Blank app two');
    await dialog.getByLabel('Redirect URIs', { exact: true }).fill('https://blank.example.com/callback\n'); // a blank line, nothing more
    const uris = ['https://blank.example.com/callback', 'https://blank.example.com/other'];
    expect((await fixture.admin.patch(`/api/v1/applications/${app.id}`, { version: app.version, redirect_uris: uris })).status).toBe(200);
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByRole('alert').waitFor();
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('tr[data-application="Blank app two"]').waitFor();
    const [row] = await server.sql<{ redirect_uris: string[] }[]>`SELECT redirect_uris FROM applications WHERE id = ${app.id}`;
    expect(row!.redirect_uris, "Ada's URIs stand").toEqual(uris);
    await context.close();
  });

  test('rename dialog: project deleted while open', async () => {
    const owner = await createTestUser(server, { username: 'a5owner', display_name: 'A5 Owner' });
    const project = await createProject('Doomed', owner.id);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/projects`);
    await page.locator('tr[data-project="Doomed"]').getByRole('button', { name: 'Rename' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').waitFor();
    expect((await fixture.admin.delete(`/api/v1/projects/${project.id}`)).status).toBeLessThan(300);
    await expect.poll(() => page.locator('tr[data-project="Doomed"]').count()).toBe(0);
    const closed = await settles(() => expect.poll(() => dialog.count(), { timeout: 3000 }).toBe(0));
    let text = '';
    if (!closed) {
      await dialog.getByLabel('Name').fill('Zombie');
      await dialog.getByRole('button', { name: 'Rename' }).click();
      await page.waitForTimeout(1000);
      text = (await dialog.textContent()) ?? '';
    }
    expect(await page.locator('tr[data-project="Zombie"]').count()).toBe(0);
    expect(closed, `dialog of a deleted project stays open; after save it says: ${text}`).toBe(true);
    await context.close();
  });

  test('demoted while the rename dialog is open: the dialog closes', async () => {
    const dan = await createTestUser(server, { role: 'admin', username: 'dan', display_name: 'Dan Demoted', password });
    const owner = await createTestUser(server, { username: 'a6owner', display_name: 'A6 Owner' });
    await createProject('Dan renames', owner.id);
    const { page, context } = await signInPage(fixture.browser, server, 'dan', password);
    await page.goto(`${server.url}/projects`);
    await page.locator('tr[data-project="Dan renames"]').getByRole('button', { name: 'Rename' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').waitFor();
    expect((await fixture.admin.patch(`/api/v1/users/${dan.id}`, { version: dan.version, role: 'user' })).status).toBe(200);
    await expect.poll(() => page.getByRole('button', { name: 'New project' }).count()).toBe(0);
    const closed = await settles(() => expect.poll(() => dialog.count(), { timeout: 3000 }).toBe(0));
    expect(closed, 'a demoted user still has the Rename dialog open').toBe(true);
    await context.close();
  });

  test('a question to delete a project another admin deletes meanwhile goes with its row', async () => {
    const owner = await createTestUser(server, { username: 'dora.doomed', display_name: 'Dora Doomed' });
    const project = await createProject('Doomed project', owner.id);
    const { page, context } = await signInPage(fixture.browser, server, 'brian', password);
    await page.goto(`${server.url}/projects`);
    const row = page.locator('tr[data-project="Doomed project"]');
    await row.getByRole('button', { name: 'Delete' }).click();
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    expect((await fixture.admin.delete(`/api/v1/projects/${project.id}`)).status).toBe(204);
    await row.waitFor({ state: 'detached' });
    const live = await settles(() => question.waitFor({ state: 'detached', timeout: 2000 }));
    expect(live, 'no question left about a project that is gone').toBe(true);
    await context.close();
  });
});
