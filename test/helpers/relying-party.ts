import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import type { ApiClient } from './clients.ts';
import type { TestServer } from './server.ts';

// A real relying party for the OpenID provider: openid-client does the protocol, a small HTTP
// server receives back-channel logout tokens, and a browser-like cookie jar walks the redirects.

export interface LogoutReceived {
  claims: JWTPayload;
  at: number;
}

/** An application's back-channel logout endpoint: verifies each token against Roster's keys. */
export async function logoutReceiver(issuer: string): Promise<{ url: string; received: LogoutReceived[]; close(): Promise<void> }> {
  const keys = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const received: LogoutReceived[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', async () => {
      const token = new URLSearchParams(body).get('logout_token') ?? '';
      try {
        const { payload } = await jwtVerify(token, keys, { issuer, typ: 'logout+jwt' });
        received.push({ claims: payload, at: performance.now() });
        res.statusCode = 200;
      } catch {
        res.statusCode = 400;
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/backchannel-logout`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Openid-client's view of Roster, over plain HTTP (tests only). */
export async function relyingParty(server: TestServer, clientId: string, clientSecret: string): Promise<client.Configuration> {
  return client.discovery(new URL(`${server.url}/oidc`), clientId, clientSecret, undefined, { execute: [client.allowInsecureRequests] });
}

/**
 * Runs the authorization code flow with PKCE as a browser signed in to Roster would: the
 * authorization request, the console's authorization page (its API), the redirect back.
 */
export async function signInThroughRoster(
  server: TestServer,
  browser: ApiClient,
  config: client.Configuration,
  redirectUri: string,
  scope = 'openid profile email roles offline_access',
): Promise<{ tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>; consentAsked: boolean }> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    // Refresh tokens (offline_access) come only with an explicit consent prompt (OpenID Connect Core 11).
    ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}),
  });
  const jar = new Map<string, string>();
  const fetchWithJar = async (target: string) => {
    const cookies = [...jar].map(([name, value]) => `${name}=${value}`);
    if (browser.cookie) cookies.push(browser.cookie);
    const response = await fetch(target, { redirect: 'manual', headers: { cookie: cookies.join('; ') } });
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const [name, value] = pair!.split('=');
      jar.set(name!, value ?? '');
    }
    return response;
  };
  let response = await fetchWithJar(url.href);
  let location = new URL(response.headers.get('location')!, server.url);
  let consentAsked = false;
  // The provider sends the browser to the console's authorization page.
  const page = /^\/authorize\/([\w-]+)$/.exec(location.pathname);
  if (page) {
    const uid = page[1]!;
    const details = await browser.get(`/api/v1/authorizations/${uid}`);
    if (details.status !== 200) throw new Error(`authorization page: ${details.status} ${JSON.stringify(details.body)}`);
    consentAsked = !details.body.consented;
    const decided = await browser.post(`/api/v1/authorizations/${uid}`, { allow: true });
    if (decided.status !== 200) throw new Error(`authorization decision: ${decided.status} ${JSON.stringify(decided.body)}`);
    response = await fetchWithJar(new URL(decided.body.redirect, server.url).href);
    location = new URL(response.headers.get('location')!, server.url);
    // The provider may come back once more (a second prompt); the page answers the same way.
    const again = /^\/authorize\/([\w-]+)$/.exec(location.pathname);
    if (again) {
      const decidedAgain = await browser.post(`/api/v1/authorizations/${again[1]}`, { allow: true });
      response = await fetchWithJar(new URL(decidedAgain.body.redirect, server.url).href);
      location = new URL(response.headers.get('location')!, server.url);
    }
  }
  if (!location.href.startsWith(redirectUri)) throw new Error(`expected a redirect to the application, got ${location.href}`);
  const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: verifier, expectedState: state });
  return { tokens, consentAsked };
}
