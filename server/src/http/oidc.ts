import { Hono, type Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { validateSessionToken } from '../auth/sessions.ts';
import { twoFactorOverdueFor } from '../auth/two-factor-policy.ts';
import { providerRequest } from '../oidc/adapter.ts';
import { PROVIDER_PATH } from '../oidc/provider.ts';
import type { Deps } from './context.ts';
import { readSessionCookie } from './session-cookie.ts';

// The OpenID provider is a Node request handler (Koa): mounted under /oidc through the Node
// bindings of @hono/node-server, with discovery also at the root, where applications look first.

type OidcEnv = { Bindings: HttpBindings };

export function oidcRoutes(deps: Deps) {
  const serve = async (c: Context<OidcEnv>, path: string) => {
    const { incoming, outgoing } = c.env;
    // The provider works out its mount point from the part of `originalUrl` its `url` lacks.
    (incoming as typeof incoming & { originalUrl?: string }).originalUrl = `${PROVIDER_PATH}${path}`;
    incoming.url = path;
    // Its sessions remember the Roster session they were made in (oidc/adapter.ts), so ending that
    // session ends them.
    const token = readSessionCookie(c, deps.cookies);
    const session = token ? await validateSessionToken(deps.sql, token, deps.sessionPolicy).catch(() => null) : null;
    // Staff past their grace period for two-factor sign-in are not signed in for applications either.
    const validated = session && !twoFactorOverdueFor(deps.twoFactorPolicy, session.user, session.twoFactorDueAt) ? session : null;
    await providerRequest.run({ rosterSessionId: validated?.session.id ?? null, userId: validated?.user.id ?? null }, () => deps.oidc.handle(incoming, outgoing));
    return RESPONSE_ALREADY_SENT;
  };
  return new Hono<OidcEnv>()
    .get('/.well-known/openid-configuration', (c) => serve(c, '/.well-known/openid-configuration'))
    .all(`${PROVIDER_PATH}/*`, (c) => {
      const url = new URL(c.env.incoming.url ?? '/', 'http://roster');
      return serve(c, url.pathname.slice(PROVIDER_PATH.length) + url.search);
    });
}
