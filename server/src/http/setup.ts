import { Hono } from 'hono';
import { setupRequestSchema, type SetupState } from '@roster/shared';
import { startSession } from '../services/auth.ts';
import { completeSetup, needsSetup } from '../services/setup.ts';
import { clientIp, parseBody, type AppEnv, type Deps } from './context.ts';
import { writeSessionCookie } from './session-cookie.ts';

export function setupRoutes(deps: Deps) {
  const secure = deps.secureCookies;
  const schema = setupRequestSchema(deps.config.PASSWORD_MIN_LENGTH);

  return new Hono<AppEnv>()
    .get('/', async (c) => {
      const state: SetupState = {
        needs_setup: await needsSetup(deps.sql),
        registration_open: deps.config.ALLOW_REGISTRATION,
        password_min_length: deps.config.PASSWORD_MIN_LENGTH,
      };
      return c.json(state);
    })
    .post('/', async (c) => {
      const request = await parseBody(c, schema);
      const client = { ip: clientIp(c, deps.config.TRUST_PROXY), userAgent: c.req.header('user-agent') ?? null };
      const admin = await completeSetup(deps.sql, request, client.ip);
      // The new admin is signed in at once: they just proved they hold the console's token.
      const signedIn = await startSession(deps.sql, admin, client);
      writeSessionCookie(c, signedIn.token, signedIn.session.expires_at, secure);
      return c.json({ user: signedIn.user }, 201);
    });
}
