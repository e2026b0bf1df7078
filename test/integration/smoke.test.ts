import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ApiClient } from '../helpers/clients.ts';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server.close(); });

test('healthz', async () => {
  const c = new ApiClient(server);
  expect((await c.get('/healthz')).body).toEqual({ status: 'ok' });
  expect((await c.get('/readyz')).status).toBe(200);
  expect((await c.get('/api/v1/setup')).body.needs_setup).toBe(true);
});
