import { Hono } from 'hono';
import { loginRequestSchema } from '@roster/shared';
import { login, logout } from '../services/auth.ts';
import { getUser } from '../services/users.ts';
import { toSessionDto } from '../services/sessions.ts';
import { actorOf, clientIp, parseBody, requireAuth, type AppEnv, type Deps } from './context.ts';
import { clearSessionCookie, writeSessionCookie } from './session-cookie.ts';

export function authRoutes(deps: Deps) {
  const secure = deps.secureCookies;
  const limits = {
    maxPerAccount: deps.config.LOGIN_MAX_FAILURES,
    maxPerIp: deps.config.LOGIN_MAX_FAILURES_PER_IP,
    windowMs: deps.config.LOGIN_WINDOW_MINUTES * 60 * 1000,
  };

  return new Hono<AppEnv>()
    .post('/login', async (c) => {
      const request = await parseBody(c, loginRequestSchema);
      const client = { ip: clientIp(c, deps.config.TRUST_PROXY), userAgent: c.req.header('user-agent') ?? null };
      const signedIn = await login(deps.sql, request, client, limits);
      writeSessionCookie(c, signedIn.token, signedIn.session.expires_at, secure);
      return c.json({ user: signedIn.user });
    })
    .post('/logout', async (c) => {
      const auth = requireAuth(c);
      await logout(deps.sql, actorOf(c, deps), auth.session.id);
      clearSessionCookie(c, secure);
      return c.body(null, 204);
    })
    .get('/me', async (c) => {
      const auth = requireAuth(c);
      return c.json({ user: await getUser(deps.sql, auth.user.id), session: toSessionDto(auth.session) });
    });
}
