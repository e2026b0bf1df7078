import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import type { Sql, TransactionSql } from 'postgres';
import type { User } from '@roster/shared';
import type { Config } from '../config.ts';
import { toUserDto, type UserRow } from '../data/users.ts';
import { sha256Hex } from './tokens.ts';

// Sessions after the Lucia reference design: the cookie holds a random token, the database holds
// only its SHA-256, and every request looks the session up, so a deleted row ends it at once.
// A session has a stable id of its own: its token is replaced (rotated) on every password check
// without ending the session, so its open connections and its place in the lists stay.

const SESSION_COOKIE = 'roster_session';

/**
 * The session cookie's name, and reading it. Behind HTTPS the name has a prefix that browsers
 * enforce (ASVS 5.0 3.3.1): a `__Host-` cookie (Secure, Path=/, no Domain) can be set by Roster's
 * own host only, so another host under the same parent domain cannot plant a session of its
 * choosing, which browsers would send first; `__Secure-` when ROSTER_COOKIE_DOMAIN shares the
 * cookie with sibling hosts, since `__Host-` forbids a Domain.
 */
export class SessionCookie {
  readonly name: string;
  // Every request and every live connection reads this one cookie: a pattern finds it where a cookie
  // parser would split, validate and decode every cookie the browser sends (a token needs no decoding).
  private readonly value: RegExp;

  constructor(secure: boolean, domain: string | undefined) {
    this.name = secure ? `${domain ? '__Secure-' : '__Host-'}${SESSION_COOKIE}` : SESSION_COOKIE;
    this.value = new RegExp(`(?:^|;)\\s*${this.name}=([^;]*)`);
  }

  /** The session token in a `Cookie` header, if any: the HTTP API's, the console's and the live channel's. */
  tokenIn(header: string | undefined): string | undefined {
    return header ? this.value.exec(header)?.[1]?.trim() : undefined;
  }
}
// Touch last_seen_at at most once a minute: idle timeouts are measured in minutes or more.
const LAST_SEEN_RESOLUTION_MS = 60 * 1000;

/** How long sessions live (SESSION_MAX_DAYS, SESSION_IDLE_MINUTES, SESSION_MAX_PER_USER). */
export interface SessionPolicy {
  /** Absolute lifetime from sign-in; nothing extends it. */
  maxAgeMs: number;
  /** A session unused this long ends. */
  idleMs: number;
  /** Sessions one user may hold; signing in beyond ends the least recently used. */
  maxPerUser: number;
}

export function sessionPolicy(config: Config): SessionPolicy {
  return {
    maxAgeMs: config.SESSION_MAX_DAYS * 24 * 60 * 60 * 1000,
    idleMs: config.SESSION_IDLE_MINUTES * 60 * 1000,
    maxPerUser: config.SESSION_MAX_PER_USER,
  };
}

export interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date;
  expires_at: Date;
  last_seen_at: Date;
  /** When this session last checked the password (sign-in or re-authentication). */
  authenticated_at: Date;
  ip: string | null;
  user_agent: string | null;
  /** How the sign-in was proven (RFC 8176): `pwd`, and `otp` after a second factor. */
  amr: string[];
}

/** How a sign-in was proven: the password, or the password and a second factor. */
export const PASSWORD_ONLY = ['pwd'];
export const PASSWORD_AND_OTP = ['pwd', 'otp'];

/** The signed-in user as the request sees it: read with the session, in the same query. */
export type SessionUser = User;

export interface ValidatedSession {
  session: SessionRow;
  user: SessionUser;
  /** When the user's grace period for setting up two-factor sign-in ends, if it has started. */
  twoFactorDueAt: Date | null;
}

const SESSION_COLUMNS = ['id', 'user_id', 'created_at', 'expires_at', 'last_seen_at', 'authenticated_at', 'ip', 'user_agent', 'amr'] as const;

export function generateSessionToken(): string {
  const bytes = new Uint8Array(20);
  crypto.getRandomValues(bytes);
  return encodeBase32LowerCaseNoPadding(bytes);
}

export async function createSession(
  tx: Sql | TransactionSql,
  token: string,
  userId: string,
  client: { ip: string | null; userAgent: string | null },
  policy: SessionPolicy,
  amr: string[] = PASSWORD_ONLY,
): Promise<SessionRow> {
  const [session] = await tx<SessionRow[]>`
    INSERT INTO sessions (token_hash, user_id, expires_at, ip, user_agent, amr)
    VALUES (${sha256Hex(token)}, ${userId}, now() + ${policy.maxAgeMs} * interval '1 millisecond', ${client.ip}, ${client.userAgent}, ${amr})
    RETURNING ${tx(SESSION_COLUMNS)}`;
  return session!;
}

/**
 * The SQL condition under which a session is over: past its absolute expiry (also measured from
 * its creation, so no stored expiry can outlive SESSION_MAX_DAYS), or idle for longer than allowed.
 * The live channel's sweep uses the same condition as every request.
 */
export function sessionOver(sql: Sql | TransactionSql, policy: SessionPolicy, alias = 's') {
  const s = sql.unsafe(alias);
  return sql`(${s}.expires_at <= now()
    OR ${s}.created_at <= now() - ${policy.maxAgeMs} * interval '1 millisecond'
    OR ${s}.last_seen_at <= now() - ${policy.idleMs} * interval '1 millisecond')`;
}

/**
 * Looks the token's session up with its user, in one query: every request checks the database, and
 * this is its only round trip (last use is recorded at most once a minute, without waiting for it).
 * Refuses (and deletes) a session that is over, and any session of an inactive user.
 */
export async function validateSessionToken(sql: Sql, token: string, policy: SessionPolicy): Promise<ValidatedSession | null> {
  if (!/^[a-z2-7]{32}$/.test(token)) return null;
  // Every request runs this statement, so it is written out whole: one fixed text with parameters
  // and plain columns. Composing `sessionOver` in and reading the rows as JSON cost a fifth of its
  // time (bench/run.ts, "Authenticated request cost"); the rule below is the same as there.
  const [row] = await sql<SessionWithUserRow[]>`
    SELECT s.id AS session_id, s.created_at AS session_created_at, s.expires_at, s.last_seen_at, s.authenticated_at,
           s.ip, s.user_agent, s.amr,
           u.id, u.username, u.display_name, u.email, u.role, u.status, u.password_change_required, u.can_share_publicly,
           u.token_budget, u.minute_budget, u.version, u.created_at, u.updated_at, u.last_login_at,
           u.two_factor_enabled_at, u.two_factor_due_at,
           (s.expires_at <= now()
             OR s.created_at <= now() - ${policy.maxAgeMs} * interval '1 millisecond'
             OR s.last_seen_at <= now() - ${policy.idleMs} * interval '1 millisecond') AS over,
           s.last_seen_at <= now() - ${LAST_SEEN_RESOLUTION_MS} * interval '1 millisecond' AS stale
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = ${sha256Hex(token)}`;
  if (!row) return null;
  if (row.over || row.status !== 'active') {
    await sql`DELETE FROM sessions WHERE id = ${row.session_id}`;
    return null;
  }
  if (row.stale) {
    // The request does not wait for this: idleness is measured in minutes, and a lost update only
    // makes a session look idle a minute early.
    sql`UPDATE sessions SET last_seen_at = now() WHERE id = ${row.session_id}`.catch(() => undefined);
  }
  const session: SessionRow = {
    id: row.session_id,
    user_id: row.id,
    created_at: row.session_created_at,
    expires_at: row.expires_at,
    last_seen_at: row.stale ? new Date() : row.last_seen_at,
    authenticated_at: row.authenticated_at,
    ip: row.ip,
    user_agent: row.user_agent,
    amr: row.amr,
  };
  return { session, user: toUserDto(row), twoFactorDueAt: row.two_factor_due_at };
}

type SessionWithUserRow = Omit<UserRow, 'password_hash'> &
  Pick<SessionRow, 'expires_at' | 'last_seen_at' | 'authenticated_at' | 'ip' | 'user_agent' | 'amr'> & {
    session_id: string;
    session_created_at: Date;
    over: boolean;
    stale: boolean;
  };

type UserJson = Omit<UserRow, 'password_hash'>;

/** A user read with `to_jsonb(u) - 'password_hash'`, with its dates and bigints as a row has them. */
export function userFromJson(json: UserJson): Omit<UserRow, 'password_hash'> {
  return {
    ...json,
    token_budget: json.token_budget === null ? null : String(json.token_budget),
    created_at: new Date(json.created_at),
    updated_at: new Date(json.updated_at),
    last_login_at: json.last_login_at === null ? null : new Date(json.last_login_at),
    two_factor_enabled_at: json.two_factor_enabled_at === null ? null : new Date(json.two_factor_enabled_at),
    two_factor_due_at: json.two_factor_due_at === null ? null : new Date(json.two_factor_due_at),
  };
}

/**
 * Replaces a session's token after a password check (ASVS 7.2.4): the old token stops working at
 * once, the session (its id, its absolute expiry) goes on. Connections opened with the old token
 * are closed by the `session.rotated` event the caller records, and reconnect with the new one.
 */
export async function rotateSessionToken(tx: TransactionSql, sessionId: string): Promise<{ token: string; session: SessionRow }> {
  const token = generateSessionToken();
  const [session] = await tx<SessionRow[]>`
    UPDATE sessions SET token_hash = ${sha256Hex(token)}, authenticated_at = now(), last_seen_at = now()
    WHERE id = ${sessionId} RETURNING ${tx(SESSION_COLUMNS)}`;
  if (!session) throw new Error('rotateSessionToken: the session is gone');
  return { token, session };
}

/** The session a token belongs to, if any (whatever its state): for ending it when another sign-in replaces it. */
export async function sessionIdOfToken(sql: Sql | TransactionSql, token: string): Promise<string | null> {
  if (!/^[a-z2-7]{32}$/.test(token)) return null;
  const [row] = await sql<{ id: string }[]>`SELECT id FROM sessions WHERE token_hash = ${sha256Hex(token)}`;
  return row?.id ?? null;
}
