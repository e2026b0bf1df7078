import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signingKeys } from '../../server/src/oidc/keys.ts';
import { ApiClient, signedInClient } from '../helpers/clients.ts';
import { deliveredLogout, walkThroughRoster } from '../helpers/relying-party.ts';
import { useTestServer } from '../helpers/server.ts';

// examples/oidc-app, the example application, run as a user runs it (tsx, a process of its own) and
// used as a browser would: it signs someone in with Roster, and Roster's back-channel logout ends
// its session when their access ends.

const root = fileURLToPath(new URL('../../', import.meta.url));
const server = useTestServer();
let admin: ApiClient;
let example: ChildProcess;
let output = '';
let appUrl: string;
let clientId: string;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  ({ client: admin } = await signedInClient(server, { role: 'admin' }));
  const port = await freePort();
  appUrl = `http://localhost:${port}`;
  // What the example prints to register, registered through the API.
  const created = await admin.post('/api/v1/applications', {
    name: 'Example application',
    redirect_uris: [`${appUrl}/callback`],
    post_logout_redirect_uris: [`${appUrl}/`],
    backchannel_logout_uri: `${appUrl}/backchannel-logout`,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  clientId = created.body.application.client_id;
  example = spawn(`${root}node_modules/.bin/tsx`, ['examples/oidc-app/app.ts'], {
    cwd: root,
    env: { ...process.env, ROSTER_ISSUER: `${server.url}/oidc`, CLIENT_ID: clientId, CLIENT_SECRET: created.body.client_secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example did not start:\n${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += chunk;
      if (output.includes('Listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    example.stdout!.on('data', read);
    example.stderr!.on('data', read);
    example.once('exit', (code) => reject(new Error(`the example exited (${code}):\n${output}`)));
  });
});
afterAll(async () => {
  if (example && example.exitCode === null) {
    const exited = new Promise((resolve) => example.once('exit', resolve));
    example.kill('SIGTERM');
    await exited;
  }
});

/** The browser at the example application: its own cookie jar, redirects seen one by one. */
function exampleBrowser() {
  const jar = new Map<string, string>();
  return async (path: string, method = 'GET') => {
    const response = await fetch(new URL(path, appUrl), {
      method,
      redirect: 'manual',
      headers: { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') },
    });
    for (const header of response.headers.getSetCookie()) {
      const [name, value] = header.split(';')[0]!.split('=');
      jar.set(name!, value ?? '');
    }
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
}

describe('examples/oidc-app', () => {
  test('prints what to register in Roster', () => {
    expect(output).toContain(`Redirect URI:             ${appUrl}/callback`);
    expect(output).toContain(`Sign-out redirect URI:    ${appUrl}/`);
    expect(output).toContain(`Back-channel logout URI:  ${appUrl}/backchannel-logout`);
  });

  test('signs someone in with Roster; deactivating them ends its session through back-channel logout', async () => {
    const { client: rosterBrowser, user } = await signedInClient(server, { role: 'moderator' });
    const browser = exampleBrowser();
    expect((await browser('/')).text).toContain('Sign in with Roster');

    // /login → Roster (authorization request with PKCE and state) → the console's authorization
    // page → back to the example's /callback → its home page.
    const login = await browser('/login');
    expect(login.status).toBe(302);
    const authorization = new URL(login.location!);
    expect(authorization.href.startsWith(`${server.url}/oidc/`)).toBe(true);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('state')).toBeTruthy();
    const { location: callback } = await walkThroughRoster(server, rosterBrowser, authorization.href, { until: (url) => url.origin === appUrl });
    expect(callback.pathname).toBe('/callback');
    const finished = await browser(callback.pathname + callback.search);
    expect(finished, finished.text).toMatchObject({ status: 302, location: '/' });
    const home = await browser('/');
    expect(home.text).toContain(`Signed in as <strong>${user.display_name}</strong> (${user.username})`);
    expect(home.text).toContain(user.email);
    expect(home.text).toContain('&quot;moderator&quot;');
    // The same callback in another browser, where no sign-in was started, signs nobody in.
    expect((await exampleBrowser()(callback.pathname + callback.search)).status).toBe(400);

    // A logout token that is not for this application is refused, and ends nothing.
    const [key] = await signingKeys(server.sql);
    const forAnother = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
      .setProtectedHeader({ alg: key!.alg, kid: key!.kid, typ: 'logout+jwt' })
      .setIssuer(`${server.url}/oidc`)
      .setAudience('another-application')
      .setSubject(user.id)
      .setIssuedAt()
      .setJti(crypto.randomUUID())
      .sign(await importJWK(key!, key!.alg));
    for (const token of [forAnother, 'not-a-token']) {
      const refused = await fetch(`${appUrl}/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: token }) });
      expect(refused.status).toBe(400);
    }
    expect((await browser('/')).text).toContain(user.username);

    // Deactivated: Roster POSTs a signed logout token; the example verifies it and ends the session.
    expect((await admin.patch(`/api/v1/users/${user.id}`, { version: user.version, status: 'inactive' })).status).toBe(200);
    await expect.poll(async () => (await browser('/')).text, { timeout: 5000, interval: 100 }).toContain('Sign in with Roster');
    expect((await browser('/')).text).not.toContain(user.username);
    expect(output).toContain(`back-channel logout: ended 1 session(s) of ${user.id}`);
    expect(await deliveredLogout(server, user.id)).toMatchObject({ attempts: 1 });
  });

  test('signing out of the example sends the browser to Roster, which comes back to it', async () => {
    const { client: rosterBrowser } = await signedInClient(server);
    const browser = exampleBrowser();
    const login = await browser('/login');
    const { location: callback } = await walkThroughRoster(server, rosterBrowser, login.location!, { until: (url) => url.origin === appUrl });
    await browser(callback.pathname + callback.search);
    const out = await browser('/logout', 'POST');
    expect(out.status).toBe(303);
    const endSession = new URL(out.location!);
    expect(endSession.href.startsWith(`${server.url}/oidc/`)).toBe(true);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${appUrl}/`);
    expect(endSession.searchParams.get('id_token_hint')).toBeTruthy();
    expect((await browser('/')).text).toContain('Sign in with Roster');
  });
});
