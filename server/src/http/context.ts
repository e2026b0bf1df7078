import { isIP } from 'node:net';
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { HttpBindings } from '@hono/node-server';
import type { z } from 'zod';
import { inputProblems } from '@roster/shared';
import type { Sql } from 'postgres';
import type { OpenIdProvider } from '../oidc/provider.ts';
import type { Access } from '@roster/shared';
import type { Principal } from '../auth/principal.ts';
import type { SessionPolicy } from '../auth/sessions.ts';
import type { TwoFactorPolicy } from '../auth/two-factor-policy.ts';
import type { Config } from '../config.ts';
import type { Actor } from '../data/locks.ts';
import type { DatabaseWatch } from '../database-watch.ts';
import type { LiveHub } from '../live/hub.ts';
import type { Logger } from '../logger.ts';
import type { MailDeps } from '../mail/links.ts';
import type { ResetLimits } from '../services/users/recovery.ts';
import type { SignInLimits } from '../services/auth.ts';
import type { CookieSettings } from './session-cookie.ts';
import type { Viewer } from '../services/projects.ts';
import { passwordProblem } from '../auth/password-policy.ts';
import { AppError, validationError } from '../errors.ts';

/** What every route can reach: built once per server, never a global. */
export interface Deps {
  sql: Sql;
  /** Whether the database answers; requests fail fast with 503 while it does not. */
  database: DatabaseWatch;
  config: Config;
  log: Logger;
  origins: string[];
  /** Cookies get `Secure` when the console's public origin is HTTPS, and a domain when configured. */
  cookies: CookieSettings;
  live: LiveHub;
  /** The time budgets and usage are computed at; injectable so tests can turn the month. */
  clock: () => Date;
  /** Where the built web console lives; absent in servers that serve only the API. */
  webRoot?: string;
  sessionPolicy: SessionPolicy;
  signInLimits: SignInLimits;
  /** Whether staff must sign in with two factors, and their grace period (REQUIRE_2FA_*). */
  twoFactorPolicy: TwoFactorPolicy;
  /** The OpenID provider applications sign in through (mounted at /oidc). */
  oidc: OpenIdProvider;
  /** Outgoing mail (SMTP_URL, or the log) and what its links need. */
  mail: MailDeps;
  /** "Forgot your password?" requests per address and per IP an hour (PASSWORD_RESET_MAX_PER_*). */
  resetLimits: ResetLimits;
}

export interface AppEnv {
  /** The Node request and response under Hono's (server.ts serves the app with @hono/node-server). */
  Bindings: HttpBindings;
  Variables: {
    principal: Principal | null;
    /** The access rule of the route being served, re-checked inside its writing transaction. */
    access: Access;
    /** Whether the route serves a user who must still replace a password someone else set. */
    duringPasswordChange: boolean;
  };
}

export type AppContext = Context<AppEnv>;

export function clientIp(c: Context, trustProxy: boolean): string | null {
  if (trustProxy) {
    // Only an address: whatever else a client slips into the header is not stored or logged.
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded && isIP(forwarded)) return withoutZone(forwarded);
  }
  const address = getConnInfo(c).remote.address;
  return address ? withoutZone(address) : null;
}

/**
 * An IPv6 zone (`fe80::1%eth0`) names an interface of the host that saw the address, which means
 * nothing anywhere else, and PostgreSQL's `inet` (sessions.ip) refuses it.
 */
function withoutZone(address: string): string {
  const zone = address.indexOf('%');
  return zone === -1 ? address : address.slice(0, zone);
}

export function clientInfo(c: Context, deps: Deps) {
  return { ip: clientIp(c, deps.config.TRUST_PROXY), userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null };
}

/** The principal of a route whose access rule already required one. */
export function principalOf(c: AppContext): Principal {
  const principal = c.get('principal');
  if (!principal) throw new AppError('unauthenticated', 'Sign in to continue');
  return principal;
}

/** The signed-in user of an `account` route. */
export function accountOf(c: AppContext) {
  const user = principalOf(c).user;
  if (!user) throw new AppError('forbidden', 'A system API key has no account');
  return user;
}

/** Who row-secured queries run for: the user, or (system keys) nobody with admin rights. */
export function viewerOf(c: AppContext): Viewer {
  const principal = principalOf(c);
  return { id: principal.user?.id ?? null, role: principal.role };
}

/** The request's actor, with the credential and access rule every writing transaction re-checks. */
export function actorOf(c: AppContext, deps: Deps): Actor {
  const principal = c.get('principal');
  const credential: Actor['credential'] = principal?.session
    ? { kind: 'session', sessionId: principal.session.id }
    : principal?.apiKeyId
      ? { kind: 'api_key', apiKeyId: principal.apiKeyId }
      : undefined;
  return {
    id: principal?.user?.id ?? null,
    label: principal?.label ?? 'anonymous',
    ip: clientIp(c, deps.config.TRUST_PROXY),
    credential,
    access: c.get('access'),
    duringPasswordChange: c.get('duringPasswordChange'),
    reauthWindowMs: deps.config.REAUTH_MINUTES * 60 * 1000,
  };
}

/**
 * Reads the JSON body and validates it; malformed JSON and schema failures both become
 * `validation_failed`. `passwords` names password fields to check against the configured policy
 * too, so a form gets every field's message in one answer.
 */
export async function parseBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  passwords?: { fields: string[]; minLength: number },
): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new AppError('validation_failed', 'The request body is not valid JSON', { _: 'Must be a JSON object' });
  }
  refuseInputProblems(body);
  const parsed = schema.safeParse(body);
  const fields: Record<string, string> = { ...(parsed.success ? {} : validationError(parsed.error).fields) };
  const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  for (const field of passwords?.fields ?? []) {
    // A body that names its owner (sign-up forms) is checked against that name and address too.
    const problem = passwordProblem(record[field], passwords!.minLength, { username: record.username, email: record.email });
    if (problem) fields[field] ??= problem;
  }
  if (!parsed.success || Object.keys(fields).length > 0) throw new AppError('validation_failed', 'Some fields are invalid', fields);
  return parsed.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const query = c.req.query();
  refuseInputProblems(query);
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}

/**
 * Runs before any schema, so no schema has to remember NUL and lone surrogates, no query fails on
 * them, and nothing walks a body nested without bound.
 */
function refuseInputProblems(input: unknown) {
  const problems = inputProblems(input);
  if (Object.keys(problems).length > 0) throw new AppError('validation_failed', 'Some fields are invalid', problems);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path id that cannot name a row is simply not found. */
export function uuidParam(c: Context, name = 'id'): string {
  const value = c.req.param(name) ?? '';
  if (!UUID.test(value)) throw new AppError('not_found', 'Not found');
  return value.toLowerCase();
}

/** The id of a sign-in request of the OpenID provider (random, URL-safe); anything else is not found. */
export function interactionUid(c: Context): string {
  const value = c.req.param('uid') ?? '';
  if (!/^[\w-]{10,64}$/.test(value)) throw new AppError('not_found', 'This sign-in request has expired; start again from the application');
  return value;
}
