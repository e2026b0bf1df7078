import { describe, expect, test } from 'vitest';
import { connectSocket, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

const server = useTestServer();

describe('Socket.IO handshake', () => {
  test('a signed-in browser from the console origin connects', async () => {
    const { client } = await signedInClient(server);
    const socket = await connectSocket(server, { cookie: client.cookie });
    expect(socket.connected).toBe(true);
    socket.close();
  });

  test('is refused without a session', async () => {
    await expect(connectSocket(server)).rejects.toThrow(/unauthenticated/);
  });

  test('is refused with a forged or ended session', async () => {
    await expect(connectSocket(server, { cookie: 'roster_session=abcdefghijklmnopqrstuvwxyz234567' })).rejects.toThrow(
      /unauthenticated/,
    );
    const { client } = await signedInClient(server);
    const cookie = client.cookie;
    await client.post('/api/v1/auth/logout');
    await expect(connectSocket(server, { cookie })).rejects.toThrow(/unauthenticated/);
  });

  test('reads the session cookie as the API does: among other cookies, never from a look-alike name', async () => {
    const { client } = await signedInClient(server);
    const token = client.sessionToken!;
    const socket = await connectSocket(server, { cookie: `theme=dark;  roster_session=${token}; lang=en` });
    expect(socket.connected).toBe(true);
    socket.close();
    for (const cookie of [`xroster_session=${token}`, `roster_session_old=${token}`, `a=roster_session=${token}`]) {
      await expect(connectSocket(server, { cookie }), cookie).rejects.toThrow(/unauthenticated/);
    }
  });

  test('is refused from a foreign origin even with a valid session (cross-site websocket hijacking)', async () => {
    const { client } = await signedInClient(server);
    await expect(connectSocket(server, { cookie: client.cookie, origin: 'https://evil.example' })).rejects.toThrow();
    await expect(connectSocket(server, { cookie: client.cookie, origin: null })).rejects.toThrow();
  });
});
