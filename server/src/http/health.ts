import { Hono } from 'hono';
import { migrationsUpToDate } from '../../../db/migrate.ts';
import type { AppEnv, Deps } from './context.ts';

export function healthRoutes(deps: Deps) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      const ready = await deps.database.guard(() => migrationsUpToDate(deps.sql)).catch(() => false);
      if (ready) return c.json({ status: 'ready' });
      return c.json({ error: { code: 'unavailable', message: 'The database is unreachable or not migrated' } }, 503);
    });
}
