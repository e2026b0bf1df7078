import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, LiveClient, connectSocket, createTestUser, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let admin: ApiClient;

beforeAll(async () => {
  server = await startTestServer();
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
});
afterAll(async () => {
  await server.close();
});

describe('what clients send on the live channel', () => {
  test('garbage on any event name never crashes the server or another client\'s connection', async () => {
    const { client: attackerHttp } = await signedInClient(server);
    const attacker = await connectSocket(server, { cookie: attackerHttp.cookie });
    const bystander = await LiveClient.connect(server, admin.cookie);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('resume', 'presence', 'join', 'event', 'session.ended', 'stats', 'disconnect_me', '__proto__'),
        fc.anything({ withBigInt: false }),
        async (name, payload) => {
          (attacker.emit as (event: string, ...args: unknown[]) => void)(name, payload, () => undefined);
        },
      ),
      { numRuns: 300 },
    );
    // Both connections still work: the bystander still receives events, the server still answers.
    const user = await createTestUser(server);
    await bystander.event((e) => e.target_id === user.id, 'event after the garbage');
    expect(attacker.connected).toBe(true);
    expect((await new ApiClient(server).get('/healthz')).status).toBe(200);
    attacker.close();
    bystander.close();
  });

  test('a plain user cannot subscribe itself to rooms or events it may not see', async () => {
    const { client, user } = await signedInClient(server);
    const watcher = await LiveClient.connect(server, client.cookie);
    for (const attempt of ['join', 'subscribe', 'role:admin', 'presence']) {
      (watcher.socket.emit as (event: string, ...args: unknown[]) => void)(attempt, { room: 'role:admin', rooms: ['role:admin', 'role:moderator'], viewing: user.id });
    }
    const stranger = await createTestUser(server);
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, display_name: 'Only mine' });
    await watcher.event((e) => e.target_id === user.id && e.action === 'user.updated', 'own event');
    expect(watcher.events.some((e) => e.target_id === stranger.id)).toBe(false);
    expect(watcher.presence).toEqual([]);
    expect(watcher.stats).toEqual([]);
    watcher.close();
  });
});
