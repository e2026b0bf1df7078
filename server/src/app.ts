import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serveStatic } from '@hono/node-server/serve-static';
import { authRoutes } from './http/auth.ts';
import type { AppEnv, Deps } from './http/context.ts';
import { AppError, errorResponse } from './http/errors.ts';
import { healthRoutes } from './http/health.ts';
import { originCheck, requestLog, sessionLoader } from './http/middleware.ts';
import { setupRoutes } from './http/setup.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export function createApp(deps: Deps) {
  const api = new Hono<AppEnv>()
    .use(
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: (c) => {
          // The rest of the body is never read, so the connection cannot carry another request.
          c.header('Connection', 'close');
          throw new AppError('payload_too_large', 'The request body is larger than 1 MiB');
        },
      }),
    )
    .use(originCheck(deps))
    .use(sessionLoader(deps))
    .route('/setup', setupRoutes(deps))
    .route('/auth', authRoutes(deps))
    .all('*', () => {
      throw new AppError('not_found', 'No such API route');
    });

  const app = new Hono<AppEnv>()
    .use(requestLog(deps))
    .route('/', healthRoutes(deps))
    .route('/api/v1', api);
  app.onError((error, c) => errorResponse(c, error, deps.log));

  if (deps.webRoot) serveWebConsole(app, deps.webRoot);
  return app;
}

/** The SvelteKit build is a single-page app: real files as they are, every other path gets its shell. */
function serveWebConsole(app: Hono<AppEnv>, webRoot: string) {
  const shell = readFileSync(path.join(webRoot, 'index.html'), 'utf8');
  app.use('*', serveStatic({ root: webRoot }));
  app.get('*', (c) => c.html(shell));
}
