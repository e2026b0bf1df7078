import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { z } from 'zod';
import type { Sql } from 'postgres';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { ValidatedSession } from '../auth/sessions.ts';
import type { Actor } from '../services/events.ts';
import { AppError, validationError } from './errors.ts';

/** What every route can reach: built once per server, never a global. */
export interface Deps {
  sql: Sql;
  config: Config;
  log: Logger;
  origins: string[];
  /** Cookies get `Secure` when the console's public origin is HTTPS. */
  secureCookies: boolean;
  /** Where the built web console lives; absent in servers that serve only the API. */
  webRoot?: string;
}

export interface AppEnv {
  Variables: {
    auth: ValidatedSession | null;
  };
}

export type AppContext = Context<AppEnv>;

export function clientIp(c: Context, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return getConnInfo(c).remote.address ?? null;
}

export function requireAuth(c: AppContext): ValidatedSession {
  const auth = c.get('auth');
  if (!auth) throw new AppError('unauthenticated', 'Sign in to continue');
  return auth;
}

export function actorOf(c: AppContext, deps: Deps): Actor {
  const user = c.get('auth')?.user;
  return { id: user?.id ?? null, label: user?.username ?? 'anonymous', ip: clientIp(c, deps.config.TRUST_PROXY) };
}

/** Reads the JSON body and validates it; malformed JSON and schema failures both become `validation_failed`. */
export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new AppError('validation_failed', 'The request body is not valid JSON');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}
