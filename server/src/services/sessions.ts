import type { Sql, TransactionSql } from 'postgres';
import { can, type Session, type SessionEndReason, type SessionEntry } from '@roster/shared';
import type { Principal } from '../auth/principal.ts';
import type { SessionRow } from '../auth/sessions.ts';
import { AppError } from '../http/errors.ts';
import { recordEvent, type Actor } from './events.ts';

export function toSessionDto(row: SessionRow): Session {
  return {
    id: row.id,
    user_id: row.user_id,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    last_seen_at: row.last_seen_at.toISOString(),
    ip: row.ip,
    user_agent: row.user_agent,
  };
}

/**
 * Deletes sessions and writes one `session.revoked` event each, in the caller's transaction. Every
 * node closes the sockets of those sessions when it sees the events; the cookies die with the rows.
 */
export async function revokeSessions(
  tx: TransactionSql,
  actor: Actor,
  where: { userId: string; sessionId?: string; exceptSessionId?: string | null },
  reason: SessionEndReason,
): Promise<number> {
  const ended = await tx<{ id: string; user_id: string; username: string }[]>`
    DELETE FROM sessions s USING users u
    WHERE u.id = s.user_id AND s.user_id = ${where.userId}
      ${where.sessionId ? tx`AND s.id = ${where.sessionId}` : tx``}
      ${where.exceptSessionId ? tx`AND s.id <> ${where.exceptSessionId}` : tx``}
    RETURNING s.id, s.user_id, u.username`;
  for (const session of ended) {
    await recordEvent(tx, actor, {
      action: 'session.revoked',
      targetType: 'session',
      targetId: session.id,
      targetLabel: session.username,
      data: { user_id: session.user_id, reason },
    });
  }
  return ended.length;
}

/** Unexpired sessions with their users; admins see everyone's, others their own. */
export async function listSessions(
  sql: Sql,
  principal: Principal,
  filter: { userId?: string },
  onlineSessions: Set<string>,
): Promise<SessionEntry[]> {
  const all = can(principal.role, 'sessions.all');
  if (!all && !principal.user) return [];
  if (!all && filter.userId && filter.userId !== principal.user!.id) {
    throw new AppError('forbidden', 'You can see only your own sessions');
  }
  const userId = all ? filter.userId : principal.user!.id;
  const rows = await sql<(SessionRow & { username: string; display_name: string })[]>`
    SELECT s.*, u.username, u.display_name
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.expires_at > now() ${userId ? sql`AND s.user_id = ${userId}` : sql``}
    ORDER BY s.last_seen_at DESC, s.id
    LIMIT 5000`;
  return rows.map(({ username, display_name, ...row }) => ({
    ...toSessionDto(row),
    user: { id: row.user_id, username, display_name },
    online: onlineSessions.has(row.id),
    current: row.id === principal.session?.id,
  }));
}

/** Ends one session: anyone's for admins, otherwise only one's own (others' are "not found"). */
export async function revokeSession(sql: Sql, actor: Actor, principal: Principal, sessionId: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [row] = await tx<{ user_id: string }[]>`SELECT user_id FROM sessions WHERE id = ${sessionId} FOR UPDATE`;
    const allowed = row && (can(principal.role, 'sessions.all') || row.user_id === principal.user?.id);
    if (!allowed) throw new AppError('not_found', 'No such session');
    const reason = row.user_id === principal.user?.id && sessionId === principal.session?.id ? 'logout' : 'revoked';
    await revokeSessions(tx, actor, { userId: row.user_id, sessionId }, reason);
  });
}

/** Ends every session of a user (admins: anyone; others: themselves), optionally keeping the caller's. */
export async function revokeAllSessions(
  sql: Sql,
  actor: Actor,
  principal: Principal,
  userId: string,
  exceptCurrent: boolean,
): Promise<number> {
  if (!can(principal.role, 'sessions.all') && userId !== principal.user?.id) {
    throw new AppError('forbidden', 'You can end only your own sessions');
  }
  return sql.begin(async (tx) => {
    const [user] = await tx`SELECT 1 FROM users WHERE id = ${userId}`;
    if (!user) throw new AppError('not_found', 'No such user');
    return revokeSessions(tx, actor, { userId, exceptSessionId: exceptCurrent ? principal.session?.id : null }, 'revoked');
  });
}
