import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import type { Sql, TransactionSql } from 'postgres';
import type { Role, UserStatus } from '@roster/shared';
import type { Config } from '../config.ts';
import { sha256Hex } from './tokens.ts';

// Sessions after the Lucia reference design: the cookie holds a random token, the database holds
// only its SHA-256, and every request looks the session up, so a deleted row ends it at once.
// A session has a stable id of its own: its token is replaced (rotated) on every password check
// without ending the session, so its open connections and its place in the lists stay.

export const SESSION_COOKIE = 'roster_session';
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
}

export interface SessionUser {
  id: string;
  username: string;
  display_name: string;
  role: Role;
  status: UserStatus;
  password_change_required: boolean;
}

export interface ValidatedSession {
  session: SessionRow;
  user: SessionUser;
}

const SESSION_COLUMNS = ['id', 'user_id', 'created_at', 'expires_at', 'last_seen_at', 'authenticated_at', 'ip', 'user_agent'] as const;

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
): Promise<SessionRow> {
  const [session] = await tx<SessionRow[]>`
    INSERT INTO sessions (token_hash, user_id, expires_at, ip, user_agent)
    VALUES (${sha256Hex(token)}, ${userId}, now() + ${policy.maxAgeMs} * interval '1 millisecond', ${client.ip}, ${client.userAgent})
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
 * Looks the token's session up with its user. Refuses (and deletes) a session that is over, and
 * any session of an inactive user.
 */
export async function validateSessionToken(sql: Sql, token: string, policy: SessionPolicy): Promise<ValidatedSession | null> {
  if (!/^[a-z2-7]{32}$/.test(token)) return null;
  const [row] = await sql<(SessionRow & SessionUserColumns & { over: boolean; stale: boolean })[]>`
    SELECT ${sql(SESSION_COLUMNS.map((c) => `s.${c}`))}, u.username, u.display_name, u.role, u.status, u.password_change_required,
           ${sessionOver(sql, policy)} AS over,
           s.last_seen_at <= now() - ${LAST_SEEN_RESOLUTION_MS} * interval '1 millisecond' AS stale
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = ${sha256Hex(token)}`;
  if (!row) return null;
  if (row.over || row.status !== 'active') {
    await sql`DELETE FROM sessions WHERE id = ${row.id}`;
    return null;
  }
  const { username, display_name, role, status, password_change_required, over: _over, stale, ...session } = row;
  if (stale) {
    await sql`UPDATE sessions SET last_seen_at = now() WHERE id = ${row.id}`;
    session.last_seen_at = new Date();
  }
  return { session, user: { id: row.user_id, username, display_name, role, status, password_change_required } };
}

type SessionUserColumns = Omit<SessionUser, 'id'>;

/**
 * Replaces a session's token after a password check (ASVS 7.2.4): the old token stops working at
 * once, the session (its id, open connections, absolute expiry) goes on.
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
