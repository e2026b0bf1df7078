import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Hono, type Handler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { serveStatic } from '@hono/node-server/serve-static';
import { apiRoutes, type RouteKey } from '@roster/shared';
import type { AppEnv, Deps } from './http/context.ts';
import { AppError } from './errors.ts';
import { errorResponse } from './http/errors.ts';
import { healthRoutes } from './http/health.ts';
import { oidcRoutes } from './http/oidc.ts';
import { dataHeaders, requestLog, routeGates } from './http/middleware.ts';
import { openApiDocument } from './http/openapi.ts';
import { routeHandlers } from './http/routes.ts';
import { StaticPathsFirstRouter } from './http/router.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export function createApp(deps: Deps) {
  const shell = deps.webRoot ? readFileSync(path.join(deps.webRoot, 'index.html'), 'utf8') : null;
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => {
      // The rest of the body is never read, so the connection cannot carry another request.
      c.header('Connection', 'close');
      throw new AppError('payload_too_large', 'The request body is larger than 1 MiB');
    },
  });
  const api = new Hono<AppEnv>();
  const document = openApiDocument(deps.origins[0]!, deps.cookies.session.name);
  api.get('/openapi.json', (c) => c.json(document));

  // Every route of the shared table behind its gate (database, origin, principal, access rule);
  // only routes that take a body read one, within the limit.
  const handlers: Record<RouteKey, Handler<AppEnv>> = routeHandlers(deps);
  const routeGate = routeGates(deps);
  for (const key of Object.keys(apiRoutes) as RouteKey[]) {
    const [method, routePath] = key.split(' ') as [string, string];
    const gate = routeGate(apiRoutes[key]);
    if (method === 'GET') api.on(method, routePath, gate, handlers[key]);
    else api.on(method, routePath, limitBody, gate, handlers[key]);
  }
  api.all('*', () => {
    throw new AppError('not_found', 'No such API route');
  });

  const app = new Hono<AppEnv>({ router: new StaticPathsFirstRouter() })
    .use(requestLog(deps))
    .use('/api/*', dataHeaders(deps))
    .use('/healthz', dataHeaders(deps))
    .use('/readyz', dataHeaders(deps))
    .route('/', healthRoutes(deps))
    .route('/api/v1', api)
    .route('/', oidcRoutes(deps));
  app.onError((error, c) => errorResponse(c, error, deps.log));

  if (deps.webRoot && shell !== null) {
    app.use('*', consoleHeaders(deps, shell));
    // The SvelteKit build is a single-page app: real files as they are, every other path gets its shell.
    app.use('*', serveStatic({ root: deps.webRoot }));
    app.get('*', (c) => c.html(shell));
  }
  return app;
}

/**
 * Security headers on the console's pages and files. The Content-Security-Policy allows no inline
 * script except SvelteKit's bootstrap script in the console's shell, pinned by its hash; the
 * console may not be framed; HSTS is sent when the console is served over HTTPS.
 */
function consoleHeaders(deps: Deps, shell: string) {
  const inlineScripts = [...shell.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
  const hashes = inlineScripts.map((script) => `'sha256-${createHash('sha256').update(script).digest('base64')}'`);
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", ...hashes],
      // Svelte sets style attributes (sizes, colours); styles cannot run code.
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'same-origin',
    strictTransportSecurity: deps.cookies.secure ? 'max-age=31536000; includeSubDomains' : false,
    crossOriginEmbedderPolicy: false,
  });
}
