import type { MiddlewareHandler } from 'hono';
import { validateSessionToken } from '../auth/sessions.ts';
import type { AppEnv, Deps } from './context.ts';
import { AppError } from './errors.ts';
import { clearSessionCookie, readSessionCookie, writeSessionCookie } from './session-cookie.ts';

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
        user: c.get('auth')?.user.id,
      },
      'request',
    );
  };
}

/**
 * CSRF defence: a state-changing request must come from an allowed origin. Browsers always send
 * `Origin` on such requests; programs authenticating with a bearer key are not exposed to CSRF.
 */
export function originCheck(deps: Deps): MiddlewareHandler<AppEnv> {
  const allowed = new Set(deps.origins);
  return async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && !c.req.header('authorization')?.startsWith('Bearer ')) {
      const origin = c.req.header('origin');
      if (!origin || !allowed.has(origin)) {
        throw new AppError('forbidden', 'Cross-origin request refused: the Origin header is missing or not allowed');
      }
    }
    await next();
  };
}

/** Loads the session named by the cookie, if any; a dead cookie is cleared. Routes decide whether they need one. */
export function sessionLoader(deps: Deps): MiddlewareHandler<AppEnv> {
  const secure = deps.secureCookies;
  const idleMs = deps.config.SESSION_IDLE_MINUTES * 60 * 1000;
  return async (c, next) => {
    const token = readSessionCookie(c);
    const auth = token ? await validateSessionToken(deps.sql, token, idleMs) : null;
    c.set('auth', auth);
    if (token && !auth) clearSessionCookie(c, secure);
    if (token && auth?.renewed) writeSessionCookie(c, token, auth.session.expires_at, secure);
    await next();
  };
}
