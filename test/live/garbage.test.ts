import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ApiClient, LiveClient, connectSocket, createTestUser, signedInClient, useSignedInClient, websocketUpgrade } from '../helpers/clients.ts';
import { type TestServer, useTestServer } from '../helpers/server.ts';

const server = useTestServer();
const admin = useSignedInClient(server, { role: 'admin' });


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
    // The bystander still receives events and the server still answers. The attacker sent far
    // more than the per-connection message limit allows, and was cut off for it (abuse.test.ts).
    const user = await createTestUser(server);
    await bystander.event((e) => e.target_id === user.id, 'event after the garbage');
    expect(attacker.connected).toBe(false);
    expect((await new ApiClient(server).get('/healthz')).status).toBe(200);
    attacker.close();
    bystander.close();
  });

  test('deeply nested messages, plain or with a binary attachment, reach no recursive check', async () => {
    // Written to the engine as they would arrive on the wire: the client's own encoder recurses on
    // such payloads. 7,000 levels is as deep as a message gets within the 16 KiB message limit.
    const deep = '['.repeat(7_000) + ']'.repeat(7_000);
    const { client: attackerHttp, user: attackerUser } = await signedInClient(server);
    const attacker = await LiveClient.connect(server, attackerHttp.cookie);
    const bystander = await LiveClient.connect(server, admin.cookie);
    const engine = attacker.socket.io.engine;
    for (const name of ['resume', 'presence', 'unknown']) engine.write(`21["${name}",${deep}]`);
    // Handled in order, and the connection survives them: the next event about its user arrives.
    await admin.patch(`/api/v1/users/${attackerUser.id}`, { version: attackerUser.version, display_name: 'Still here' });
    await attacker.event((e) => e.target_id === attackerUser.id && e.action === 'user.updated', 'event after the deep messages');
    // The server's parser rebuilds a binary packet recursively; on such a packet it fails and closes that connection alone.
    engine.write(`51-["resume",{"_placeholder":true,"num":0},${deep}]`);
    engine.write(new Uint8Array([1, 2, 3]));
    await attacker.disconnected();
    // A message over the limit (16 KiB) closes its connection before anything parses it.
    const { client: secondHttp } = await signedInClient(server);
    const second = await LiveClient.connect(server, secondHttp.cookie);
    second.socket.io.engine.write(`2["presence",${'['.repeat(20_000) + ']'.repeat(20_000)}]`);
    await second.disconnected();

    const user = await createTestUser(server);
    await bystander.event((e) => e.target_id === user.id, 'event after the deep messages');
    expect((await new ApiClient(server).get('/healthz')).status).toBe(200);
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

  test('a ping flood from a client that never reads its pongs is cut off, not buffered', async () => {
    // ws before 8.23 queued an automatic pong for every ping without bound (memory exhaustion);
    // the override in package.json keeps a version that terminates such a connection.
    const bystander = await LiveClient.connect(server, admin.cookie);
    const flood = await rawWebSocket(server);
    flood.pause();
    const pings = 400_000; // more pongs than the kernel buffers of both ends can hold (32 MB + 4 MB here)
    const frame = Buffer.alloc(6 + 125); // FIN + ping, masked with a zero key, 125-byte payload
    frame[0] = 0x89;
    frame[1] = 0x80 | 125;
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame));
    const closed = new Promise<void>((resolve) => flood.once('close', () => resolve()));
    flood.on('error', () => undefined); // the server's reset, once it has cut the connection
    for (let sent = 0; sent < pings && !flood.destroyed; sent += 1000) {
      if (!flood.write(batch)) await new Promise((resolve) => flood.once('drain', resolve).once('close', resolve));
    }
    let received = 0;
    flood.on('data', (chunk: Buffer) => (received += chunk.length));
    flood.resume();
    await closed;
    expect(received).toBeLessThan((pings * (2 + 125)) / 2);

    const user = await createTestUser(server);
    await bystander.event((e) => e.target_id === user.id, 'event after the flood');
    expect((await new ApiClient(server).get('/healthz')).status).toBe(200);
    bystander.close();
  });
});

/** A websocket to the Socket.IO endpoint over a bare TCP socket, so the test controls every frame it sends and reads. */
async function rawWebSocket(server: TestServer): Promise<net.Socket> {
  const socket = websocketUpgrade(server);
  const head = await new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      resolve(text.slice(0, end));
    };
    socket.on('data', onData).once('error', reject);
  });
  expect(head).toMatch(/^HTTP\/1\.1 101/);
  return socket;
}
