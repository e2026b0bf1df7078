import { beforeAll, describe, expect, test } from 'vitest';
import { apiRoutes, can, type Access, type RouteKey } from '@roster/shared';
import { ApiClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { useTestServer } from '../helpers/server.ts';

// Every route × every kind of caller, with the expected outcome derived from the shared matrix.
// Requests aim at ids that do not exist (or at the caller itself) so that allowed calls change
// nothing another row depends on; an allowed call must simply not be 401/403.

type Caller = 'signed_out' | 'user' | 'moderator' | 'admin' | 'user_key' | 'system_key';
const callers: Caller[] = ['signed_out', 'user', 'moderator', 'admin', 'user_key', 'system_key'];
const roleOf = { user: 'user', moderator: 'moderator', admin: 'admin', user_key: 'user', system_key: 'admin' } as const;

function expected(access: Access, caller: Caller, route: RouteKey): 'allowed' | 401 | 403 {
  if (access === 'public') return 'allowed';
  if (caller === 'signed_out') return 401;
  if (access === 'account' && caller === 'system_key') return 403;
  if (access === 'session' && (caller === 'user_key' || caller === 'system_key')) return 403;
  if (access === 'signed_in' || access === 'account' || access === 'session') {
    // "own, or everyone's with sessions.all": a plain caller aiming at someone else is refused.
    if (route === 'DELETE /users/:id/sessions' && !can(roleOf[caller], 'sessions.all')) return 403;
    if (route === 'GET /users/:id/usage' && !can(roleOf[caller], 'users.read')) return 403;
    return 'allowed';
  }
  return can(roleOf[caller], access) ? 'allowed' : 403;
}

const server = useTestServer();
const clients = {} as Record<Caller, ApiClient>;
const otherUserId = '00000000-0000-0000-0000-000000000001';

beforeAll(async () => {
  clients.signed_out = new ApiClient(server);
  for (const role of ['user', 'moderator', 'admin'] as const) clients[role] = (await signedInClient(server, { role })).client;
  const userKey = (await clients.user.post('/api/v1/api-keys', { name: 'script' })).body.key;
  const systemKey = (await clients.admin.post('/api/v1/api-keys', { name: 'automation', system: true })).body.key;
  clients.user_key = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${userKey}` } });
  clients.system_key = new ApiClient(server, { origin: null, headers: { authorization: `Bearer ${systemKey}` } });
  await createTestUser(server, { role: 'admin' }); // so no guard ever hides a permission answer
});

/** A request that is harmless when allowed: unknown ids, invalid or empty bodies. */
function requestFor(route: RouteKey): { method: string; path: string; body?: unknown } {
  const [method, path] = route.split(' ') as [string, string];
  const concrete = path.replace(':id', route.startsWith('DELETE /sessions') ? 'f'.repeat(64) : otherUserId).replace(':userId', otherUserId);
  const bodies: Partial<Record<RouteKey, unknown>> = {
    'POST /auth/logout': undefined,
    'POST /api-keys': { name: '' },
    'PUT /me/password': { current_password: 'x', new_password: 'y' },
    'PATCH /me': {},
    'POST /users/bulk': { ids: [], action: 'activate' },
  };
  return { method, path: `/api/v1${concrete}`, body: route in bodies ? bodies[route] : method === 'GET' || method === 'DELETE' ? undefined : {} };
}

describe('every route × every caller', () => {
  for (const route of Object.keys(apiRoutes) as RouteKey[]) {
    if (route === 'POST /auth/logout') continue; // would end the caller's session: covered below
    if (route === 'GET /auth/verify') continue; // its answer is the verdict itself: test/integration/forward-auth.test.ts
    test(route, async () => {
      const { method, path, body } = requestFor(route);
      for (const caller of callers) {
        const response = await clients[caller].request(method, path, body);
        const want = expected(apiRoutes[route].access, caller, route);
        const label = `${caller} ${route} → ${response.status} ${JSON.stringify(response.body)?.slice(0, 120)}`;
        if (want === 'allowed') {
          expect(['unauthenticated', 'forbidden'], label).not.toContain(response.body?.error?.code);
          expect(response.status, label).toBeLessThan(500);
        } else {
          expect(response.status, label).toBe(want);
          expect(response.body.error.code, label).toBe(want === 401 ? 'unauthenticated' : 'forbidden');
        }
      }
    });
  }

  test('POST /auth/logout: sessions only', async () => {
    expect((await clients.signed_out.post('/api/v1/auth/logout')).status).toBe(401);
    expect((await clients.user_key.post('/api/v1/auth/logout')).status).toBe(403);
    expect((await clients.system_key.post('/api/v1/auth/logout')).status).toBe(403);
    const { client } = await signedInClient(server);
    expect((await client.post('/api/v1/auth/logout')).status).toBe(204);
  });

  test('every route the server answers is in the table (no unguarded extras)', async () => {
    const document = (await clients.signed_out.get('/api/v1/openapi.json')).body;
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((m) => `${m.toUpperCase()} ${(path as string).replace('/api/v1', '').replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect(documented.sort()).toEqual(Object.keys(apiRoutes).sort());
  });
});
