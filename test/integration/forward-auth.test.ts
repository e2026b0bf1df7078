import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Forward authentication: a reverse proxy asks Roster, on every request, whether the browser's
// session may reach the application behind it.

const host = 'app.example.test';
let server: TestServer;
let admin: ApiClient;
let app: { id: string; version: number };

beforeAll(async () => {
  server = await startTestServer();
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  app = (await admin.post('/api/v1/applications', { name: 'Dashboards', forward_auth_host: host })).body.application;
});
afterAll(async () => {
  await server.close();
});

function verify(browser: ApiClient, headers: Record<string, string> = {}, query = '') {
  return browser.request('GET', `/api/v1/auth/verify${query}`, undefined, { headers: { 'x-forwarded-host': host, ...headers } });
}

describe('GET /api/v1/auth/verify', () => {
  test('a signed-in user gets 200 with who they are; signed out, 401, or a redirect to sign-in that comes back', async () => {
    const { client: browser, user } = await signedInClient(server, { role: 'moderator' });
    const allowed = await verify(browser);
    expect(allowed.status).toBe(200);
    expect(Object.fromEntries(['x-roster-user', 'x-roster-username', 'x-roster-email', 'x-roster-roles'].map((h) => [h, allowed.headers.get(h)]))).toEqual({
      'x-roster-user': user.id,
      'x-roster-username': user.username,
      'x-roster-email': user.email,
      'x-roster-roles': 'moderator',
    });
    // The application's own Authorization header is not Roster's business.
    expect((await verify(browser, { authorization: 'Bearer the-apps-own-token' })).status).toBe(200);

    const stranger = new ApiClient(server);
    expect((await verify(stranger)).status).toBe(401);
    const redirected = await fetch(`${server.url}/api/v1/auth/verify?redirect=true`, {
      redirect: 'manual',
      headers: { 'x-forwarded-host': host, 'x-forwarded-proto': 'https', 'x-forwarded-uri': '/reports?week=12' },
    });
    expect(redirected.status).toBe(302);
    const location = new URL(redirected.headers.get('location')!);
    expect(location.pathname).toBe('/login');
    expect(location.searchParams.get('return_to')).toBe(`https://${host}/reports?week=12`);
    // After signing in, the console asks where it may send the browser: only to registered hosts.
    expect((await browser.get(`/api/v1/auth/return-to?url=${encodeURIComponent(`https://${host}/reports?week=12`)}`)).body).toEqual({
      url: `https://${host}/reports?week=12`,
    });
    expect((await browser.get(`/api/v1/auth/return-to?url=${encodeURIComponent('https://evil.example/steal')}`)).status).toBe(400);
  });

  test('an unknown host is refused; the access rule applies; deactivation refuses the very next request', async () => {
    const { client: browser, user } = await signedInClient(server);
    expect((await verify(browser, { 'x-forwarded-host': 'other.example.test' })).status).toBe(403);
    expect((await verify(browser)).status).toBe(200);
    const narrowed = await admin.patch(`/api/v1/applications/${app.id}`, { version: app.version, access: 'roles', allowed_roles: ['admin', 'moderator'] });
    app = narrowed.body.application;
    expect((await verify(browser)).status).toBe(403);
    app = (await admin.patch(`/api/v1/applications/${app.id}`, { version: app.version, access: 'everyone' })).body.application;
    expect((await verify(browser)).status).toBe(200);
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' });
    expect((await verify(browser)).status).toBe(401);
  });

  test('ROSTER_COOKIE_DOMAIN puts the session cookie on the parent domain', async () => {
    const shared = await startTestServer({ env: { ROSTER_COOKIE_DOMAIN: 'example.test' } });
    try {
      const { client } = await signedInClient(shared);
      const response = await client.post('/api/v1/auth/reauthenticate', { password: 'correct horse battery' });
      expect(response.headers.getSetCookie().find((c) => c.startsWith('roster_session='))).toMatch(/Domain=example\.test/i);
    } finally {
      await shared.close();
    }
  });
});

const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
if (!nginx && process.env.CI) throw new Error('The forward-auth test needs nginx: install Debian\'s "nginx" package');

describe.skipIf(!nginx)('a real nginx with auth_request in front of an application', () => {
  let dir: string;
  let proxy: ChildProcess;
  let backend: Server;
  let proxyPort: number;

  beforeAll(async () => {
    // The application: answers with who the proxy says is signed in.
    backend = createServer((req, res) => res.end(`hello ${req.headers['x-roster-username'] ?? 'nobody'}`));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as AddressInfo).port;
    proxyPort = 20000 + Math.floor(Math.random() * 20000);
    dir = await mkdtemp(path.join(tmpdir(), 'roster-nginx-'));
    const roster = new URL(server.url);
    await writeFile(
      path.join(dir, 'nginx.conf'),
      `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${proxyPort};
    location / {
      auth_request /_roster;
      auth_request_set $roster_user $upstream_http_x_roster_username;
      proxy_set_header X-Roster-Username $roster_user;
      proxy_pass http://127.0.0.1:${backendPort};
    }
    location = /_roster {
      internal;
      proxy_pass http://127.0.0.1:${roster.port}/api/v1/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }
  }
}
`,
    );
    proxy = spawn(nginx!, ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
    for (let tries = 0; !(await fetch(`http://127.0.0.1:${proxyPort}/`).catch(() => null)); tries++) {
      if (tries > 100) throw new Error('nginx did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  afterAll(async () => {
    proxy?.kill('SIGTERM');
    await new Promise((resolve) => backend?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('signed in: the application answers; deactivated: the next request is 401', async () => {
    const { client: browser, user } = await signedInClient(server);
    // node:http, because fetch will not send a Host header of our choosing.
    const through = () =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: proxyPort, path: '/reports', headers: { host, cookie: browser.cookie! } }, (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        });
        req.on('error', reject).end();
      });
    const allowed = await through();
    expect(allowed.status).toBe(200);
    expect(allowed.text).toBe(`hello ${user.username}`);
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' });
    expect((await through()).status).toBe(401);
  });
});
