import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

// Forward authentication: a reverse proxy asks Roster, on every request, whether the browser's
// session may reach the application behind it.

const host = 'app.example.test';
const server = useTestServer();
let admin: ApiClient;
let app: { id: string; version: number };

beforeAll(async () => {
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  app = (await admin.post('/api/v1/applications', { name: 'Dashboards', forward_auth_host: host })).body.application;
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

// The configurations shipped in deploy/forward-auth/, run for real: each file as it is, with only the
// addresses of Roster, the application and the proxy's own listener changed to this test's.
const shipped = (name: string) => readFile(fileURLToPath(new URL(`../../deploy/forward-auth/${name}`, import.meta.url)), 'utf8');

/** `text` with each `from` replaced by its `to`; each must be there, so a changed file fails here, not silently. */
function substitute(text: string, replacements: [from: string, to: string][]): string {
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`the shipped configuration no longer contains ${JSON.stringify(from)}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A proxy's binary, from Debian's package (.ci/run installs it). Missing, its tests are skipped
 * locally, like the browser tests without Chromium; under CI=true that fails the run.
 */
function binary(name: string, paths: string[]): string | undefined {
  const found = paths.find((p) => existsSync(p));
  if (!found && process.env.CI) throw new Error(`The forward-authentication tests need ${name}: install Debian's "${name}" package`);
  return found;
}
const nginx = binary('nginx', ['/usr/sbin/nginx', '/usr/bin/nginx']);
const caddy = binary('caddy', ['/usr/bin/caddy', '/usr/local/bin/caddy']);

type StartProxy = (dir: string, ports: { roster: number; backend: number; proxy: number }) => Promise<ChildProcess>;

const proxies: [name: string, installed: boolean, start: StartProxy][] = [
  ['nginx with auth_request (deploy/forward-auth/nginx.conf)', Boolean(nginx), async (dir, ports) => {
    // The shipped file is a server block; around it, what running nginx as a test needs.
    await writeFile(
      path.join(dir, 'site.conf'),
      substitute(await shipped('nginx.conf'), [
        ['listen 80;', `listen 127.0.0.1:${ports.proxy};`],
        ['http://roster:3000', `http://127.0.0.1:${ports.roster}`],
        ['http://app:8080', `http://127.0.0.1:${ports.backend}`],
      ]),
    );
    await writeFile(
      path.join(dir, 'nginx.conf'),
      `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  include ${dir}/site.conf;
}
`,
    );
    return spawn(nginx!, ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  }],
  ['Caddy with forward_auth (deploy/forward-auth/Caddyfile)', Boolean(caddy), async (dir, ports) => {
    // Plain http on a port of its own here (the shipped site gets a certificate); no admin endpoint.
    await writeFile(
      path.join(dir, 'Caddyfile'),
      '{\n\tadmin off\n}\n\n' +
        substitute(await shipped('Caddyfile'), [
          ['app.example.com {', `http://${host}:${ports.proxy} {`],
          ['roster:3000', `127.0.0.1:${ports.roster}`],
          ['app:8080', `127.0.0.1:${ports.backend}`],
        ]),
    );
    return spawn(caddy!, ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      stdio: 'ignore',
      env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir },
    });
  }],
];

for (const [name, installed, start] of proxies) describe.skipIf(!installed)(`a real ${name} in front of an application`, () => {
  let dir: string;
  let proxy: ChildProcess;
  let backend: Server;
  let proxyPort: number;

  beforeAll(async () => {
    // The application: answers with who the proxy says is signed in.
    backend = createServer((req, res) =>
      res.end(JSON.stringify(Object.fromEntries(['x-roster-user', 'x-roster-username', 'x-roster-email', 'x-roster-roles'].map((h) => [h, req.headers[h] ?? null])))),
    );
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as AddressInfo).port;
    proxyPort = await freePort();
    dir = await mkdtemp(path.join(tmpdir(), 'roster-proxy-'));
    proxy = await start(dir, { roster: Number(new URL(server.url).port), backend: backendPort, proxy: proxyPort });
    for (let tries = 0; !(await fetch(`http://127.0.0.1:${proxyPort}/`).catch(() => null)); tries++) {
      if (tries > 100 || proxy.exitCode !== null) throw new Error('the proxy did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  afterAll(async () => {
    if (proxy && proxy.exitCode === null) {
      const exited = new Promise((resolve) => proxy.once('exit', resolve));
      proxy.kill('SIGTERM');
      await exited;
    }
    await new Promise((resolve) => backend?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // node:http, because fetch will not send a Host header of our choosing.
  const through = (options: { cookie?: string; method?: string; headers?: Record<string, string> } = {}) =>
    new Promise<{ status: number; location?: string; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxyPort,
          method: options.method ?? 'GET',
          path: '/reports?week=12&team=ops',
          headers: { host, ...(options.cookie ? { cookie: options.cookie } : {}), ...options.headers },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, text }));
        },
      );
      req.on('error', reject).end(options.method === 'POST' ? 'a=1' : undefined);
    });

  /** Where a signed-out browser is sent: Roster's sign-in, to come back to the page it asked for. */
  function expectSignIn(response: { status: number; location?: string }) {
    expect(response.status).toBe(302);
    const location = new URL(response.location!);
    expect(location.origin + location.pathname).toBe(`${server.origin}/login`);
    expect(location.searchParams.get('return_to')).toBe(`http://${host}/reports?week=12&team=ops`);
  }

  test("signed in: the application gets who it is, never the browser's own X-Roster-* headers; deactivated: the next request goes to sign-in", async () => {
    const { client: browser, user } = await signedInClient(server, { role: 'moderator' });
    const allowed = await through({ cookie: browser.cookie!, headers: { 'x-roster-username': 'someone-else', 'x-roster-roles': 'admin' } });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.text)).toEqual({
      'x-roster-user': user.id,
      'x-roster-username': user.username,
      'x-roster-email': user.email,
      'x-roster-roles': 'moderator',
    });
    await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' });
    expectSignIn(await through({ cookie: browser.cookie! }));
  });

  test('signed out, a page or a form post is sent to sign-in, and the application sees nothing', async () => {
    const seen: string[] = [];
    const count = (req: IncomingMessage) => seen.push(req.url!);
    backend.on('request', count);
    try {
      expectSignIn(await through());
      expectSignIn(await through({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-roster-user': 'forged' } }));
      expect(seen).toEqual([]);
    } finally {
      backend.off('request', count);
    }
  });
});
