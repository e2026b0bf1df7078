import { expect, test } from 'vitest';
import { createLogger } from '../../server/src/logger.ts';
import { ApiClient, createTestUser } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';

test('one JSON line per request, with no password, token or cookie in it', async () => {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) });
  const server = await startTestServer({ log });
  try {
    const user = await createTestUser(server, { password: 'Sup3r-Secret-Passphrase' });
    const client = new ApiClient(server);
    await client.post('/api/v1/auth/login', { login: user.username, password: 'Wrong-Secret-Passphrase' });
    await client.signIn(user.username, user.password);
    const token = client.sessionToken!;
    await client.get('/api/v1/auth/me?token=query-secret');
    await client.post('/api/v1/auth/logout');

    const requests = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request');
    expect(requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /api/v1/auth/login 401',
      'POST /api/v1/auth/login 200',
      'GET /api/v1/auth/me 200',
      'POST /api/v1/auth/logout 204',
    ]);
    expect(requests[2].user).toBe(user.id);
    const all = lines.join('\n');
    for (const secret of ['Sup3r-Secret-Passphrase', 'Wrong-Secret-Passphrase', 'query-secret', token]) {
      expect(all).not.toContain(secret);
    }
  } finally {
    await server.close();
  }
});
