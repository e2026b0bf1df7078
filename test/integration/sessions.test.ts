import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, connectSocket, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('sessions API', () => {
  test('admins list everyone\'s sessions with user, client and whether a connection is open', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const socket = await connectSocket(server, { cookie: client.cookie });
    const list = await admin.get(`/api/v1/sessions?user_id=${user.id}`);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ user: { id: user.id, username: user.username }, online: true, current: false });
    expect(list.body.items[0].ip).toBeTruthy();
    expect(list.body.items[0].user_agent).toBeTruthy();
    socket.close();
    const all = await admin.get('/api/v1/sessions');
    expect(all.body.items.length).toBeGreaterThanOrEqual(2);
    expect(all.body.items.filter((s: any) => s.current)).toHaveLength(1);
  });

  test('a user sees only their own sessions and may not ask for others\'', async () => {
    const { client, user } = await signedInClient(server);
    const { user: other } = await signedInClient(server);
    const mine = await client.get('/api/v1/sessions');
    expect(mine.body.items.map((s: any) => s.user_id)).toEqual([user.id]);
    expect((await client.get(`/api/v1/sessions?user_id=${other.id}`)).status).toBe(403);
    expect((await client.get('/api/v1/sessions?user_id=bad')).status).toBe(400);
  });

  test('revoke one: own or (admin) anyone\'s; others\' are not found for a plain user', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const second = new ApiClient(server);
    await second.signIn(user.username, user.password);
    const { client: stranger } = await signedInClient(server);
    const sessions = (await client.get('/api/v1/sessions')).body.items;
    const secondId = sessions.find((s: any) => !s.current).id;
    expect((await stranger.delete(`/api/v1/sessions/${secondId}`)).status).toBe(404);
    expect((await client.delete(`/api/v1/sessions/${secondId}`)).status).toBe(204);
    expect((await second.get('/api/v1/auth/me')).status).toBe(401);
    const currentId = sessions.find((s: any) => s.current).id;
    expect((await admin.delete(`/api/v1/sessions/${currentId}`)).status).toBe(204);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect((await admin.delete(`/api/v1/sessions/${currentId}`)).status).toBe(404);
    expect((await admin.delete('/api/v1/sessions/not-a-session')).status).toBe(404);
  });

  test('revoke all of a user; "except current" keeps the caller\'s', async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const { client, user } = await signedInClient(server);
    const second = new ApiClient(server);
    await second.signIn(user.username, user.password);
    expect((await client.delete(`/api/v1/users/${user.id}/sessions?except_current=true`)).status).toBe(204);
    expect((await client.get('/api/v1/auth/me')).status).toBe(200);
    expect((await second.get('/api/v1/auth/me')).status).toBe(401);
    expect((await admin.delete(`/api/v1/users/${user.id}/sessions`)).status).toBe(204);
    expect((await client.get('/api/v1/auth/me')).status).toBe(401);
    expect((await admin.delete('/api/v1/users/00000000-0000-0000-0000-000000000000/sessions')).status).toBe(404);
    expect((await admin.delete(`/api/v1/users/${user.id}/sessions?except_current=maybe`)).status).toBe(400);
  });
});
