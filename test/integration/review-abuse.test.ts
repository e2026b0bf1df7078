import { describe, expect, test } from 'vitest';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

// Findings of the outside review (branch `review`): ways around the sign-in guarantees of
// docs/security.md that the other suites did not try. Each test states the guarantee it holds to.

const server = useTestServer({ env: { LOGIN_MAX_FAILURES: '5', LOGIN_MAX_FAILURES_PER_IP: '100000' } });

const bearer = (key: string) => new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${key}` } });

async function passwordHashOf(userId: string): Promise<string> {
  const [row] = await server.sql<{ password_hash: string }[]>`SELECT password_hash FROM users WHERE id = ${userId}`;
  return row!.password_hash;
}

describe("an admin's own password cannot be changed through the users API", () => {
  // Guarantee: changing one's own password needs the current one (and a browser session), and API
  // keys cannot do it at all. PUT /users/:id/password is the admin's reset of someone else's
  // password; pointed at oneself it sets a password without either check, so whoever holds an
  // admin's API key, or an unattended admin cookie, chooses the admin's password and takes the
  // account (sign in with it, then "choose your own").
  test("an admin's API key cannot set its owner's password", async () => {
    const { client, user } = await signedInClient(server, { role: 'admin' });
    const key = (await client.post('/api/v1/api-keys', { name: 'deploy script' })).body.key as string;
    const before = await passwordHashOf(user.id);
    const byKey = await bearer(key).put(`/api/v1/users/${user.id}/password`, { password: 'chosen by the key holder', revoke_sessions: false });
    expect(byKey.status, JSON.stringify(byKey.body)).toBeGreaterThanOrEqual(400);
    expect(await passwordHashOf(user.id)).toBe(before);
    // The owner is not locked out of their own account.
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: user.password })).body.user.password_change_required).toBe(false);
  });

  test('an admin session without a recent password check cannot set its own password either', async () => {
    const { client, user } = await signedInClient(server, { role: 'admin' });
    await server.sql`UPDATE sessions SET authenticated_at = now() - interval '11 minutes' WHERE user_id = ${user.id}`;
    const before = await passwordHashOf(user.id);
    const stale = await client.put(`/api/v1/users/${user.id}/password`, { password: 'chosen by whoever sat down', revoke_sessions: false });
    expect(stale.status, JSON.stringify(stale.body)).toBeGreaterThanOrEqual(400);
    expect(await passwordHashOf(user.id)).toBe(before);
  });
});

describe('the per-login limit counts every spelling the database matches as one login', () => {
  // Guarantee: failed sign-ins are limited per login as typed, lower-cased, so an attacker gets the
  // limit once per form of the login (username and email: twice per account). The key was
  // lower-cased by JavaScript while PostgreSQL's citext matches the account: 'İ' (U+0130) lower-cases
  // to 'i' in the database but to 'i̇' in JavaScript, so every 'i' of a login doubles the spellings
  // that name the account and each spelling had a limit of its own.
  test("'İ' for 'i' is the same login to the limit as it is to the sign-in", { timeout: 60_000 }, async () => {
    const username = `iiii${Math.floor(Math.random() * 9000 + 1000)}`;
    const { user } = await signedInClient(server, { username });
    const forms = Array.from({ length: 16 }, (_, mask) => [...username].map((c, i) => (i < 4 && mask & (1 << i) ? 'İ' : c)).join(''));
    // Each spelling names the account.
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: forms[15], password: user.password })).status).toBe(200);

    const answers: number[] = [];
    for (const login of forms) {
      for (let i = 0; i < 5; i++) answers.push((await new ApiClient(server).post('/api/v1/auth/login', { login, password: `guess ${i}` })).status);
    }
    const [checked] = await server.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM events WHERE action = 'auth.login_failed' AND target_id = ${user.id}`;
    expect(checked!.n, `passwords checked for one account (limit 5): ${answers.filter((s) => s === 401).length} answered 401`).toBeLessThanOrEqual(5);
    expect(answers.filter((s) => s === 429).length).toBeGreaterThanOrEqual(75);
  });
});

describe("one's own password change keeps one's trusted browsers", () => {
  // Guarantee (docs/security.md, "What ends what"): an own password change ends the other sessions
  // and, when asked, the API keys; trusted browsers are kept ("–"). With `end_api_keys: true` the
  // change forgot every trusted browser too, the current one included, so from then on strangers'
  // failures on the login locked the owner out of their own account.
  test('after changing the password with end_api_keys, strangers still cannot lock the owner out', async () => {
    const { client, user } = await signedInClient(server);
    const change = { current_password: user.password, new_password: 'a brand new phrase', end_api_keys: true };
    expect((await client.put('/api/v1/me/password', change)).status).toBe(200);
    for (let i = 0; i < 5; i++) await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: `guess ${i}` });
    expect((await new ApiClient(server).post('/api/v1/auth/login', { login: user.username, password: change.new_password })).status).toBe(429);
    await client.post('/api/v1/auth/logout');
    const back = await client.post('/api/v1/auth/login', { login: user.username, password: change.new_password });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
  });
});
