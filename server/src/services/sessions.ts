import type { Sql, TransactionSql } from 'postgres';
import { can, type Session, type SessionEndReason, type SessionList, type SessionListQuery } from '@roster/shared';
import type { Principal } from '../auth/principal.ts';
import { sessionOver, type SessionPolicy, type SessionRow } from '../auth/sessions.ts';
import { decodeCursor, encodeCursor, escapeLike } from '../data/cursor.ts';
import { assertRecentAuth, lockForWrite, type Actor } from '../data/locks.ts';
import { userMatches } from '../data/users.ts';
import { transaction } from '../data/transaction.ts';
import { AppError } from '../errors.ts';
import { endApplicationSessions } from '../oidc/logout.ts';
import { revokeUserApiKeys } from './api-keys.ts';
import { latestEventSeq, readWithSeq, recordEvent } from './events.ts';

// "Sign out everyone" runs one at a time (data/locks.ts, step 1).
const EVERY_SESSION_LOCK = 7_264_005;

export function toSessionDto(row: SessionRow): Session {
  return {
    id: row.id,
    user_id: row.user_id,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    last_seen_at: row.last_seen_at.toISOString(),
    authenticated_at: row.authenticated_at.toISOString(),
    ip: row.ip,
    user_agent: row.user_agent,
    amr: row.amr,
  };
}

/**
 * Deletes sessions and records one `session.revoked` event each, in the caller's transaction. Every
 * node closes the sockets of those sessions when it sees the events; the cookies die with the rows.
 * `beyondNewest` keeps that many of the user's most recently used sessions besides `exceptSessionId`.
 */
export async function revokeSessions(
  tx: TransactionSql,
  actor: Actor,
  where: { userId: string; sessionId?: string; exceptSessionId?: string | null; beyondNewest?: number } | { sessionId: string },
  reason: SessionEndReason,
): Promise<number> {
  const ended = await tx<{ id: string; user_id: string; username: string }[]>`
    DELETE FROM sessions s USING users u
    WHERE u.id = s.user_id
      ${'userId' in where ? tx`AND s.user_id = ${where.userId}` : tx``}
      ${where.sessionId ? tx`AND s.id = ${where.sessionId}` : tx``}
      ${'exceptSessionId' in where && where.exceptSessionId ? tx`AND s.id <> ${where.exceptSessionId}` : tx``}
      ${'beyondNewest' in where && where.beyondNewest !== undefined
        ? tx`AND s.id NOT IN (SELECT id FROM sessions WHERE user_id = ${where.userId}
                              ${where.exceptSessionId ? tx`AND id <> ${where.exceptSessionId}` : tx``}
                              ORDER BY last_seen_at DESC, created_at DESC LIMIT ${where.beyondNewest})`
        : tx``}
    RETURNING s.id, s.user_id, u.username`;
  // Ending all of a person's sessions (deactivation, "sign out everywhere", a new password) ends
  // their sign-ins halfway too: one completed afterwards would be a session that outlived it.
  if ('userId' in where && !where.sessionId && !('beyondNewest' in where && where.beyondNewest !== undefined)) {
    await tx`DELETE FROM pending_logins WHERE user_id = ${where.userId}`;
  }
  // Applications signed in through these sessions are signed out with them.
  await endApplicationSessions(tx, { rosterSessionIds: ended.map((s) => s.id) }, reason);
  for (const session of ended) {
    recordEvent(tx, actor, {
      action: 'session.revoked',
      targetType: 'session',
      targetId: session.id,
      targetLabel: session.username,
      data: { user_id: session.user_id, reason },
    });
  }
  return ended.length;
}

/**
 * Sessions that are not over, with their users, most recently used first, a page at a time (keyset
 * on last use and id); admins see everyone's, others their own. `online` reads the map of live
 * connections every node keeps (live/connections.ts), not the nodes.
 */
export async function listSessions(
  sql: Sql,
  principal: Principal,
  query: SessionListQuery,
  onlineSessions: Set<string>,
  policy: SessionPolicy,
): Promise<SessionList> {
  const all = can(principal.role, 'sessions.all');
  if (!all && !principal.user) return { items: [], next_cursor: null, seq: await latestEventSeq(sql) };
  if (!all && query.user_id && query.user_id !== principal.user!.id) {
    throw new AppError('forbidden', 'You can see only your own sessions');
  }
  const userId = all ? query.user_id : principal.user!.id;
  const after = query.cursor ? decodeCursor(query.cursor, 2) : null;
  const online = [...onlineSessions];
  // The cursor keeps last use to the microsecond (`seen_key`): a JavaScript date would round it and skip rows.
  // The applications signed in to through each session: the client ids the provider's session for it has authorized.
  // Which index serves the filters depends on their values (a network, or a browser that many or
  // few sessions have), so each list is planned with its own: the generic plan a prepared statement
  // settles on, made for any value, read all 100,000 sessions for a browser none had (BENCHMARKS.md).
  // In a transaction of its own so the setting stays local to it, with the event it is current to.
  const { result: rows, seq } = await readWithSeq(sql, async (tx) => {
    await tx`SET LOCAL plan_cache_mode = force_custom_plan`;
    return tx<(SessionRow & { username: string; display_name: string; applications: { id: string; name: string }[]; seen_key: string })[]>`
      SELECT s.id, s.user_id, s.created_at, s.expires_at, s.last_seen_at, s.authenticated_at, s.ip, s.user_agent, s.amr,
             u.username, u.display_name, s.last_seen_at::text AS seen_key,
             coalesce((SELECT json_agg(json_build_object('id', a.id, 'name', a.name) ORDER BY a.name) FROM applications a
                       WHERE a.client_id IN (SELECT jsonb_object_keys(coalesce(p.payload->'authorizations', '{}')) FROM oidc_payloads p
                                             WHERE p.model = 'Session' AND p.roster_session_id = s.id AND (p.expires_at IS NULL OR p.expires_at > now()))),
                      '[]') AS applications
      FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE NOT ${sessionOver(tx, policy)}
        ${userId ? tx`AND s.user_id = ${userId}` : tx``}
        ${query.q ? tx`AND s.user_id IN (SELECT id FROM users WHERE ${userMatches(tx, query.q)})` : tx``}
        ${query.online === undefined ? tx`` : query.online ? tx`AND s.id = ANY(${online}::uuid[])` : tx`AND NOT (s.id = ANY(${online}::uuid[]))`}
        ${query.ip ? tx`AND s.ip <<= ${query.ip}::inet` : tx``}
        ${query.agent ? tx`AND s.user_agent ILIKE ${`%${escapeLike(query.agent)}%`}` : tx``}
        ${after ? tx`AND (s.last_seen_at, s.id) < (${after[0]!}::timestamptz, ${after[1]!}::uuid)` : tx``}
      ORDER BY s.last_seen_at DESC, s.id DESC
      LIMIT ${query.limit + 1}`;
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(({ username, display_name, applications, seen_key: _, ...row }) => ({
      ...toSessionDto(row),
      user: { id: row.user_id, username, display_name },
      applications,
      online: onlineSessions.has(row.id),
      current: row.id === principal.session?.id,
    })),
    next_cursor: rows.length > query.limit && last ? encodeCursor([last.seen_key, last.id]) : null,
    seq,
  };
}

/**
 * Ends one session: anyone's for admins, otherwise only one's own (others' are "not found").
 * Ending one's own other sessions needs a recent password check; ending the current one is signing out.
 */
export async function revokeSession(sql: Sql, actor: Actor, sessionId: string): Promise<void> {
  await transaction(sql, async (tx) => {
    const [found] = await tx<{ user_id: string }[]>`SELECT user_id FROM sessions WHERE id = ${sessionId}`;
    if (!found) throw new AppError('not_found', 'No such session');
    const { role } = await lockForWrite(tx, actor, { read: [found.user_id] });
    const own = found.user_id === actor.id;
    if (!own && !can(role!, 'sessions.all')) throw new AppError('not_found', 'No such session');
    const current = actor.credential?.kind === 'session' && actor.credential.sessionId === sessionId;
    if (own && !current) await assertRecentAuth(tx, actor);
    const ended = await revokeSessions(tx, actor, { userId: found.user_id, sessionId }, current ? 'logout' : 'revoked');
    if (ended === 0) throw new AppError('not_found', 'No such session');
  });
}

/** Signs the actor's own current session out. */
export async function logout(sql: Sql, actor: Actor): Promise<void> {
  if (actor.credential?.kind !== 'session' || !actor.id) throw new AppError('forbidden', 'Only a browser session can sign out');
  const { sessionId } = actor.credential;
  await transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    await revokeSessions(tx, actor, { userId: actor.id!, sessionId }, 'logout');
  });
}

/**
 * "Sign out everywhere" for a user (admins: anyone; others: themselves, after a recent password
 * check): every session and every API key of the user ends. With `exceptCurrent` only the caller's
 * other sessions end, and the keys stay.
 */
export async function revokeAllSessions(sql: Sql, actor: Actor, userId: string, exceptCurrent: boolean): Promise<number> {
  return transaction(sql, async (tx) => {
    const { role, users } = await lockForWrite(tx, actor, { read: [userId] });
    const own = userId === actor.id;
    if (!own && !can(role!, 'sessions.all')) throw new AppError('forbidden', 'You can end only your own sessions');
    if (!users.has(userId)) throw new AppError('not_found', 'No such user');
    if (own) await assertRecentAuth(tx, actor);
    const keep = exceptCurrent && actor.credential?.kind === 'session' ? actor.credential.sessionId : null;
    const ended = await revokeSessions(tx, actor, { userId, exceptSessionId: keep }, 'revoked');
    if (!exceptCurrent) {
      await revokeUserApiKeys(tx, actor, userId);
      await endApplicationSessions(tx, { accountId: userId }, 'signed_out_everywhere');
    }
    return ended;
  });
}

/**
 * Ends every session of every user (after a breach), optionally keeping the caller's own: one
 * audited event, on which every node closes its connections.
 */
export async function revokeEverySession(sql: Sql, actor: Actor, keepOwn: boolean): Promise<number> {
  return transaction(sql, async (tx) => {
    // Step 1 of the lock order: one at a time. Two of these would each hold their own session while
    // deleting the other's, a deadlock for every pair; the second now finds its session gone.
    await tx`SELECT pg_advisory_xact_lock(${EVERY_SESSION_LOCK})`;
    if (actor.credential) await lockForWrite(tx, actor, { recentAuth: true });
    const keep = keepOwn && actor.credential?.kind === 'session' ? actor.credential.sessionId : null;
    const ended = await tx`DELETE FROM sessions ${keep ? tx`WHERE id <> ${keep}` : tx``}`;
    await tx`DELETE FROM pending_logins`;
    // Every application sign-in ends too, the admin's own included: after a breach, all of them.
    await endApplicationSessions(tx, 'everyone', 'signed_out_everyone');
    recordEvent(tx, actor, {
      action: 'session.revoked_all',
      targetType: 'session',
      targetId: null,
      targetLabel: 'every session',
      data: { count: ended.count, kept_session_id: keep },
    });
    return ended.count;
  });
}
