// An application that signs people in with Roster (OpenID Connect), in one file:
//
//   /                     who is signed in (their claims), or a "Sign in with Roster" link
//   /login                starts the authorization code flow, with PKCE and state
//   /callback             finishes it: exchanges the code, reads the user's claims
//   POST /logout          ends this application's session, then Roster's (RP-initiated logout)
//   POST /backchannel-logout
//                         Roster says someone's access ended (deactivated, signed out, …): a
//                         signed logout token; the sessions it names end here at once
//
// Run it with `npm run example:oidc` (see examples/README.md). Its sessions live in memory: a real
// application keeps them in its own store, so that every instance can end them.

import { randomBytes } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';

const ISSUER = new URL(process.env.ROSTER_ISSUER ?? 'http://localhost:3000/oidc');
const PORT = Number(process.env.PORT ?? 4000);
/** Where browsers reach this application (behind a proxy: its public https URL). */
const APP_URL = (process.env.APP_URL ?? `http://localhost:${PORT}`).replace(/\/$/, '');
const CLIENT_ID = process.env.CLIENT_ID ?? '';
const CLIENT_SECRET = process.env.CLIENT_SECRET ?? '';
const SCOPE = 'openid profile email roles';

const REDIRECT_URI = `${APP_URL}/callback`;
const POST_LOGOUT_REDIRECT_URI = `${APP_URL}/`;
const BACKCHANNEL_LOGOUT_URI = `${APP_URL}/backchannel-logout`;

console.log(`Register this application in Roster (Applications → Register an application):
  Redirect URI:             ${REDIRECT_URI}
  Sign-out redirect URI:    ${POST_LOGOUT_REDIRECT_URI}
  Back-channel logout URI:  ${BACKCHANNEL_LOGOUT_URI}
then run it with the client ID and secret Roster shows:
  CLIENT_ID=… CLIENT_SECRET=… npm run example:oidc`);
if (!CLIENT_ID || !CLIENT_SECRET) {
  console.error('\nCLIENT_ID and CLIENT_SECRET are not set.');
  process.exit(1);
}

// ---- Roster, as openid-client sees it --------------------------------------------------------------

let discovered: Promise<oidc.Configuration> | undefined;
/** Roster's configuration (endpoints, keys), discovered once; tried again if Roster was not up. */
function roster(): Promise<oidc.Configuration> {
  discovered ??= oidc
    .discovery(ISSUER, CLIENT_ID, CLIENT_SECRET, undefined, {
      // openid-client refuses plain http; allowed here only for a Roster on this machine.
      execute: ISSUER.protocol === 'http:' && isLocal(ISSUER) ? [oidc.allowInsecureRequests] : [],
    })
    .catch((error: unknown) => {
      discovered = undefined;
      throw error;
    });
  return discovered;
}

function isLocal(url: URL) {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
async function rosterKeys() {
  keys ??= createRemoteJWKSet(new URL((await roster()).serverMetadata().jwks_uri!));
  return keys;
}

// ---- Sessions: a random id in a cookie, the rest in memory -----------------------------------------

interface Session {
  /** Between /login and /callback. */
  pending?: { state: string; verifier: string };
  user?: { claims: Record<string, unknown>; idToken: string; sub: string; sid?: string };
}

const COOKIE = 'example_session';
const sessions = new Map<string, Session>();

function sessionOf(c: Context): { id: string; session: Session } | null {
  const id = getCookie(c, COOKIE);
  const session = id ? sessions.get(id) : undefined;
  return id && session ? { id, session } : null;
}

function startSession(c: Context): Session {
  const id = randomBytes(32).toString('base64url');
  const session: Session = {};
  sessions.set(id, session);
  setCookie(c, COOKIE, id, { httpOnly: true, sameSite: 'Lax', path: '/', secure: APP_URL.startsWith('https:') });
  return session;
}

// ---- Pages -----------------------------------------------------------------------------------------

const app = new Hono();

const page = (body: unknown) => html`<!doctype html>
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>Example application</title>
      <style>
        body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
        pre { background: #f4f4f5; padding: 1rem; overflow: auto; }
      </style>
    </head>
    <body>
      <h1>Example application</h1>
      ${body}
    </body>
  </html>`;

app.get('/', (c) => {
  const user = sessionOf(c)?.session.user;
  if (!user) return c.html(page(html`<p>Nobody is signed in.</p><p><a href="/login">Sign in with Roster</a></p>`));
  return c.html(
    page(html`<p>Signed in as <strong>${String(user.claims.name ?? user.sub)}</strong> (${String(user.claims.preferred_username ?? '')})</p>
      <p>What Roster told this application:</p>
      <pre>${JSON.stringify(user.claims, null, 2)}</pre>
      <form method="post" action="/logout"><button>Sign out</button></form>`),
  );
});

app.get('/login', async (c) => {
  const config = await roster();
  const session = sessionOf(c)?.session ?? startSession(c);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  session.pending = { state, verifier };
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  return c.redirect(url.href);
});

app.get('/callback', async (c) => {
  const found = sessionOf(c);
  const pending = found?.session.pending;
  if (!found || !pending) return c.html(page(html`<p>This sign-in was not started here. <a href="/login">Sign in again</a></p>`), 400);
  delete found.session.pending;
  const config = await roster();
  // The URL as registered, with the query Roster sent back (code and state, or an error).
  const current = new URL(REDIRECT_URI);
  current.search = new URL(c.req.url).search;
  try {
    const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: pending.verifier, expectedState: pending.state });
    const idClaims = tokens.claims()!;
    // The ID token names the user (sub) and Roster's session (sid); the profile comes from userinfo.
    const profile = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
    // A new session id at sign-in, so a cookie planted before it is worth nothing after.
    sessions.delete(found.id);
    startSession(c).user = {
      claims: { ...profile, sid: idClaims.sid },
      idToken: tokens.id_token!,
      sub: idClaims.sub,
      sid: typeof idClaims.sid === 'string' ? idClaims.sid : undefined,
    };
    return c.redirect('/');
  } catch (error) {
    const message = error instanceof oidc.AuthorizationResponseError ? `${error.error}: ${error.error_description ?? ''}` : String(error);
    return c.html(page(html`<p>Signing in did not work (${message}).</p><p><a href="/">Back</a></p>`), 400);
  }
});

app.post('/logout', async (c) => {
  const found = sessionOf(c);
  deleteCookie(c, COOKIE, { path: '/' });
  if (!found?.session.user) return c.redirect('/', 303);
  sessions.delete(found.id);
  // Roster asks the person to confirm, ends its session for the applications signed in through it
  // (each is told by back-channel logout), and sends the browser back here.
  const url = oidc.buildEndSessionUrl(await roster(), { id_token_hint: found.session.user.idToken, post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI });
  return c.redirect(url.href, 303);
});

// OpenID Connect Back-Channel Logout 1.0, section 2.6: Roster POSTs `logout_token`, a JWT signed
// with its keys, for this application (aud), naming the session (sid) and/or the user (sub).
app.post('/backchannel-logout', async (c) => {
  c.header('Cache-Control', 'no-store');
  const form = await c.req.parseBody();
  const token = typeof form.logout_token === 'string' ? form.logout_token : '';
  try {
    const { payload } = await jwtVerify(token, await rosterKeys(), {
      issuer: (await roster()).serverMetadata().issuer,
      audience: CLIENT_ID,
      typ: 'logout+jwt',
      requiredClaims: ['iat', 'jti'],
      maxTokenAge: '5m',
    });
    const events = payload.events as Record<string, unknown> | undefined;
    if (typeof events?.['http://schemas.openid.net/event/backchannel-logout'] !== 'object') throw new Error('not a logout event');
    if ('nonce' in payload) throw new Error('a logout token carries no nonce');
    const { sid, sub } = payload;
    if (typeof sid !== 'string' && typeof sub !== 'string') throw new Error('names neither a session nor a user');
    // With a sid, that session of Roster's; with only a sub, every session of that user.
    let ended = 0;
    for (const [id, session] of sessions) {
      if (session.user && (typeof sid === 'string' ? session.user.sid === sid : session.user.sub === sub)) {
        sessions.delete(id);
        ended++;
      }
    }
    console.log(`back-channel logout: ended ${ended} session(s) of ${sub ?? 'a user'}`);
    return c.body(null, 200);
  } catch (error) {
    console.warn(`back-channel logout refused: ${error instanceof Error ? error.message : String(error)}`);
    return c.json({ error: 'invalid_request' }, 400);
  }
});

serve({ fetch: app.fetch, port: PORT }, () => console.log(`\nListening on ${APP_URL} (Roster: ${ISSUER.href})`));
