import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import type { RequestOf, ResponseOf } from '@roster/shared';
import type { ApiClient } from './clients.ts';
import { expect } from 'vitest';
import type { TestServer } from './server.ts';

// A real relying party for the OpenID provider: openid-client does the protocol, a small HTTP
// server receives back-channel logout tokens, and a browser-like cookie jar walks the redirects.

export interface LogoutReceived {
  claims: JWTPayload;
  /** The key it was signed with. */
  kid: string | undefined;
  at: number;
}

/** An application's back-channel logout endpoint: verifies each token against Roster's keys. */
export async function logoutReceiver(issuer: string): Promise<{ url: string; received: LogoutReceived[]; close(): Promise<void> }> {
  // Fetches Roster's keys again on any unknown key id (no cooldown), so a rotation is seen at once.
  const keys = createRemoteJWKSet(new URL(`${issuer}/jwks`), { cooldownDuration: 0 });
  const received: LogoutReceived[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', async () => {
      const token = new URLSearchParams(body).get('logout_token') ?? '';
      try {
        const { payload, protectedHeader } = await jwtVerify(token, keys, { issuer, typ: 'logout+jwt' });
        received.push({ claims: payload, kid: protectedHeader.kid, at: performance.now() });
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

/** An application registered through the API, and openid-client configured as it. */
export interface RegisteredApplication {
  application: ResponseOf<'POST /applications'>['application'];
  config: client.Configuration;
}

/**
 * Registers an application (a random name, one redirect URI, back-channel logout to `logoutUri`;
 * `fields` change any of it) as `admin`, and configures the relying party with its secret.
 */
export async function registerApplication(
  admin: ApiClient,
  { redirectUri, logoutUri }: { redirectUri: string; logoutUri: string },
  fields: Partial<RequestOf<'POST /applications'>['body']> = {},
): Promise<RegisteredApplication> {
  const body = { name: `App ${Math.random().toString(36).slice(2, 7)}`, redirect_uris: [redirectUri], backchannel_logout_uri: logoutUri, ...fields };
  const { application, client_secret } = await admin.ok('POST /applications', { body });
  return { application, config: await relyingParty(admin.server, application.client_id, client_secret) };
}

/** An authorization request with PKCE and a state, as an application starts the code flow. */
export async function authorizationRequest(config: client.Configuration, redirectUri: string, scope: string, prompt?: string) {
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
    ...(prompt ? { prompt } : {}),
  });
  return { url, verifier, state };
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
  options: {
    scope?: string;
    prompt?: 'none' | 'consent';
    /** The browser's cookies for the provider, kept across sign-ins (a fresh jar by default). */
    jar?: Map<string, string>;
  } = {},
): Promise<{ tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>; consentAsked: boolean }> {
  const { scope = 'openid profile email roles offline_access', jar = new Map<string, string>() } = options;
  const { url, verifier, state } = await authorizationRequest(config, redirectUri, scope, options.prompt);
  const { location, consentAsked } = await walkThroughRoster(server, browser, url.href, { jar, until: (target) => target.href.startsWith(redirectUri) });
  const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: verifier, expectedState: state });
  return { tokens, consentAsked };
}

/**
 * Walks a browser signed in to Roster from an authorization request (`start`, on Roster) through
 * Roster's steps, allowing the application on the console's authorization page, until a redirect
 * leaves for the application (`until`); returns that redirect's URL.
 */
export async function walkThroughRoster(
  server: TestServer,
  browser: ApiClient,
  start: string,
  options: { jar?: Map<string, string>; until: (location: URL) => boolean },
): Promise<{ location: URL; consentAsked: boolean }> {
  const { jar = new Map<string, string>() } = options;
  const send = async (target: string, form?: URLSearchParams) => {
    if (process.env.TRACE_RP) console.log(form ? "POST" : "GET", target, [...jar.keys()]);
    const cookies = [...jar].map(([name, value]) => `${name}=${value}`);
    if (browser.cookie) cookies.push(browser.cookie);
    const response = await fetch(target, { method: form ? 'POST' : 'GET', body: form, redirect: 'manual', headers: { cookie: cookies.join('; ') } });
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const [name, value] = pair!.split('=');
      jar.set(name!, value ?? '');
    }
    return response;
  };
  let consentAsked = false;
  let response = await send(start);
  // Follow the browser's way: redirects, the console's authorization page (its API), and the
  // provider's self-submitting forms (it signs the last person out when someone else signs in).
  for (let step = 0; step < 10; step++) {
    if (response.status === 200 && (response.headers.get('content-type') ?? '').includes('html')) {
      const html = await response.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html);
      if (!action) throw new Error(`expected a self-submitting form, got ${html.slice(0, 200)}`);
      const fields = new URLSearchParams([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]));
      response = await send(new URL(action[1]!.replace(/&amp;/g, '&'), server.url).href, fields);
      continue;
    }
    const target = response.headers.get('location');
    if (!target) throw new Error(`expected a redirect, got ${response.status} ${(await response.text()).replace(/<[^>]+>|\s+/g, " ").slice(-300)}`);
    const location = new URL(target, server.url);
    if (options.until(location)) return { location, consentAsked };
    const page = /^\/authorize\/([\w-]+)$/.exec(location.pathname);
    if (!page) {
      response = await send(location.href);
      continue;
    }
    const uid = page[1]!;
    const details = await browser.get(`/api/v1/authorizations/${uid}`);
    if (details.status !== 200) throw new Error(`authorization page: ${details.status} ${JSON.stringify(details.body)}`);
    consentAsked ||= !details.body.consented;
    const decided = await browser.post(`/api/v1/authorizations/${uid}`, { allow: true });
    if (decided.status !== 200) throw new Error(`authorization decision: ${decided.status} ${JSON.stringify(decided.body)}`);
    response = await send(new URL(decided.body.redirect, server.url).href);
  }
  throw new Error('the sign-in did not come back to the application');
}

/**
 * The back-channel logout queued for `accountId`, once recorded as delivered. A receiver learns of
 * the token before it answers, and Roster records the delivery only after the answer: waiting for
 * the receiver is not waiting for the record.
 */
export async function deliveredLogout(server: TestServer, accountId: string) {
  const read = async () => (await server.sql<{ delivered_at: Date | null; attempts: number; last_error: string | null; reason: string }[]>`
    SELECT delivered_at, attempts, last_error, reason FROM logout_deliveries WHERE account_id = ${accountId}`)[0];
  await expect.poll(async () => (await read())?.delivered_at).toBeInstanceOf(Date);
  return (await read())!;
}
