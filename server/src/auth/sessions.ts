import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import type { Sql, TransactionSql } from 'postgres';
import type { Role, UserStatus } from '@roster/shared';
import { sha256Hex } from './tokens.ts';

// Sessions after the Lucia reference design: the cookie holds a random token, the database holds
// only its SHA-256, and every request looks the session up, so a deleted row ends it at once.

export const SESSION_COOKIE = 'roster_session';
const DAY_MS = 24 * 60 * 60 * 1000;
export const SESSION_LIFETIME_MS = 30 * DAY_MS;
// Touch last_seen_at at most once a minute: the idle timeout is measured in days, a write per request is waste.
const LAST_SEEN_RESOLUTION_MS = 60 * 1000;

export interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date;
  expires_at: Date;
  last_seen_at: Date;
  ip: string | null;
  user_agent: string | null;
}

export interface SessionUser {
  id: string;
  username: string;
  display_name: string;
  role: Role;
  status: UserStatus;
}

export interface ValidatedSession {
  session: SessionRow;
  user: SessionUser;
  /** True when the expiry was pushed forward and the cookie must be sent again. */
  renewed: boolean;
}

export function generateSessionToken(): string {
  const bytes = new Uint8Array(20);
  crypto.getRandomValues(bytes);
  return encodeBase32LowerCaseNoPadding(bytes);
}

export function sessionIdFromToken(token: string): string {
  return sha256Hex(token);
}

export async function createSession(
  sql: Sql | TransactionSql,
  token: string,
  userId: string,
  client: { ip: string | null; userAgent: string | null },
): Promise<SessionRow> {
  const [session] = await sql<SessionRow[]>`
    INSERT INTO sessions (id, user_id, expires_at, ip, user_agent)
    VALUES (${sessionIdFromToken(token)}, ${userId}, ${new Date(Date.now() + SESSION_LIFETIME_MS)},
            ${client.ip}, ${client.userAgent})
    RETURNING *`;
  return session!;
}

/**
 * Looks the token's session up with its user. Refuses (and deletes) a session past its absolute
 * expiry or idle for longer than `idleMs`, and any session of an inactive user. Renews the expiry
 * once half the lifetime is used, as in the Lucia design.
 */
export async function validateSessionToken(sql: Sql, token: string, idleMs: number): Promise<ValidatedSession | null> {
  if (!/^[a-z2-7]{32}$/.test(token)) return null;
  const sessionId = sessionIdFromToken(token);
  const [row] = await sql<(SessionRow & { username: string; display_name: string; role: Role; status: UserStatus })[]>`
    SELECT s.*, u.username, u.display_name, u.role, u.status
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = ${sessionId}`;
  if (!row) return null;
  const now = Date.now();
  if (now >= row.expires_at.getTime() || now - row.last_seen_at.getTime() > idleMs || row.status !== 'active') {
    await invalidateSession(sql, sessionId);
    return null;
  }
  const { username, display_name, role, status, ...session } = row;
  const renew = row.expires_at.getTime() - now < SESSION_LIFETIME_MS / 2;
  const touch = now - row.last_seen_at.getTime() >= LAST_SEEN_RESOLUTION_MS;
  if (renew || touch) {
    const expiresAt = renew ? new Date(now + SESSION_LIFETIME_MS) : row.expires_at;
    await sql`UPDATE sessions SET expires_at = ${expiresAt}, last_seen_at = now() WHERE id = ${sessionId}`;
    session.expires_at = expiresAt;
    session.last_seen_at = new Date(now);
  }
  return { session, user: { id: row.user_id, username, display_name, role, status }, renewed: renew };
}

export async function invalidateSession(sql: Sql, sessionId: string): Promise<void> {
  await sql`DELETE FROM sessions WHERE id = ${sessionId}`;
}
