import type { MiddlewareHandler } from 'hono';
import { apiRoutes, can, type RouteSpec } from '@roster/shared';
import { validateApiKey } from '../auth/api-keys.ts';
import { apiKeyPrincipal, sessionPrincipal } from '../auth/principal.ts';
import { validateSessionToken } from '../auth/sessions.ts';
import { twoFactorOverdue, twoFactorRequiredBy } from '../auth/two-factor-policy.ts';
import type { Principal } from '../auth/principal.ts';
import type { AppContext, AppEnv, Deps } from './context.ts';
import { AppError } from '../errors.ts';
import { readSessionCookie } from './session-cookie.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** One JSON line per request: no query string, no headers, so no token can leak into the log. */
export function requestLog(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    deps.log.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        user: c.get('principal')?.user?.id,
      },
      'request',
    );
  };
}

/**
 * The headers of every API and health response, set before the handler runs, so they reach error
 * responses too. They go on Node's response, where writing them costs least: headers added after a
 * response exists make the Node adapter rebuild it (that halved the throughput of authenticated
 * requests), and any header set through Hono before takes every response off the adapter's fast
 * path (a quarter of `GET /auth/me`'s time went to building and copying header lists). Node merges
 * them with the response's own, which win. API responses carry personal data, so no browser or
 * proxy keeps a copy; they are never a page to frame or a script to run. The console's pages get
 * their own policy (`consoleHeaders` in app.ts).
 */
export function dataHeaders(deps: Deps): MiddlewareHandler<AppEnv> {
  const headers: [string, string][] = [
    ['Cache-Control', 'no-store'],
    ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
    ['X-Content-Type-Options', 'nosniff'],
    ['X-Frame-Options', 'DENY'],
    ['Referrer-Policy', 'same-origin'],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ...(deps.cookies.secure ? [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'] as [string, string]] : []),
  ];
  return (c, next) => {
    for (const [name, value] of headers) c.env.outgoing.setHeader(name, value);
    return next();
  };
}

/**
 * What every API route does before its handler, in one step per request (each middleware layer of
 * its own cost a promise or two: a tenth of `GET /auth/me`'s time, bench/run.ts):
 * - While the database is down it answers 503 at once, and a request already waiting on it answers
 *   503 as soon as the health watch notices (within 2 s, docs/operations.md). No fixed deadline: a
 *   bulk action over hundreds of users may take longer while the database is healthy.
 * - CSRF defence: a state-changing request must come from an allowed origin.
 * - It establishes the principal (`authenticate`), then enforces the route's access rule.
 */
export function routeGates(deps: Deps): (route: RouteSpec) => MiddlewareHandler<AppEnv> {
  const allowed = new Set(deps.origins);
  return (route) => {
    const forwardAuthentication = route === apiRoutes['GET /auth/verify'];
    return (c, next) =>
      deps.database.guard(async () => {
        refuseCrossOrigin(c, allowed);
        c.set('principal', await authenticate(c, deps, forwardAuthentication));
        authorize(c, route);
        await next();
      });
  };
}

/**
 * Browsers always send `Origin` on state-changing requests; programs authenticating with a bearer
 * key are not exposed to CSRF (the cookie is then ignored, see `authenticate`).
 */
function refuseCrossOrigin(c: AppContext, allowed: Set<string>) {
  if (SAFE_METHODS.has(c.req.method) || c.req.header('authorization')) return;
  const origin = c.req.header('origin');
  if (!origin || !allowed.has(origin)) {
    throw new AppError('forbidden', 'Cross-origin request refused: the Origin header is missing or not allowed');
  }
}

/**
 * The principal: an `Authorization: Bearer` API key when the header is present (and then only it:
 * a bad key is 401, never a fallback to the cookie), else the session cookie, else nobody.
 */
async function authenticate(c: AppContext, deps: Deps, forwardAuthentication: boolean): Promise<Principal | null> {
  // Forward authentication reads the browser's session only: the proxied request's own
  // Authorization header belongs to the application behind the proxy.
  const authorization = forwardAuthentication ? undefined : c.req.header('authorization');
  if (authorization !== undefined) {
    const key = /^Bearer (\S+)$/.exec(authorization)?.[1];
    const validated = key ? await validateApiKey(deps.sql, key) : null;
    if (!validated) throw new AppError('unauthenticated', 'The API key is invalid, expired or revoked');
    return withTwoFactorRequirement(deps, apiKeyPrincipal(validated));
  }
  const token = readSessionCookie(c, deps.cookies);
  const validated = token ? await validateSessionToken(deps.sql, token, deps.sessionPolicy) : null;
  // A refused cookie is left in place, not cleared: the request may have been sent just before a
  // re-authentication replaced the token, and a clearing answer arriving after the new cookie
  // would delete that one and sign the browser out. Signing in or out overwrites it anyway.
  return validated ? withTwoFactorRequirement(deps, sessionPrincipal(validated)) : null;
}

/** Notes when the principal's user must have two-factor sign-in (REQUIRE_2FA_FOR_STAFF), starting their grace period if need be. */
async function withTwoFactorRequirement(deps: Deps, principal: Principal): Promise<Principal> {
  if (!principal.user) return principal;
  return { ...principal, twoFactorRequiredBy: await twoFactorRequiredBy(deps.sql, deps.twoFactorPolicy, principal.user, principal.twoFactorDueAt) };
}

/**
 * Enforces a route's access rule from the shared route table (re-checked inside the writing
 * transaction, see data/locks.ts). A user whose password was set by someone else may only choose
 * their own until they have; staff past their grace period for two-factor sign-in may only set it
 * up (auth/two-factor-policy.ts).
 */
function authorize(c: AppContext, route: RouteSpec) {
  const { access } = route;
  c.set('access', access);
  c.set('duringPasswordChange', route.duringPasswordChange === true);
  if (access === 'public') return;
  const principal = c.get('principal');
  if (!principal) throw new AppError('unauthenticated', 'Sign in to continue');
  if (principal.user?.password_change_required && !route.duringPasswordChange) {
    throw new AppError('password_change_required', 'Choose your own password first: yours was set by an administrator');
  }
  if (twoFactorOverdue(principal.twoFactorRequiredBy) && !route.duringTwoFactorSetup) {
    throw new AppError('two_factor_setup_required', 'Set up two-factor sign-in first: your role requires it');
  }
  if (access === 'account' && !principal.user) throw new AppError('forbidden', 'A system API key has no account');
  if (access === 'session' && principal.kind !== 'session') {
    throw new AppError('forbidden', 'Only a browser session can do this; revoke an API key instead');
  }
  if (access !== 'signed_in' && access !== 'account' && access !== 'session' && !can(principal.role, access)) {
    throw new AppError('forbidden', 'Your role does not allow this');
  }
}
