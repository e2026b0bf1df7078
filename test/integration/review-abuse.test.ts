import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Findings of the outside review (branch `review`): ways around the sign-in guarantees of
// docs/security.md that the other suites did not try. Each test states the guarantee it holds to.

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { LOGIN_MAX_FAILURES: '5', LOGIN_MAX_FAILURES_PER_IP: '100000' } });
});
afterAll(async () => {
  await server.close();
});

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
