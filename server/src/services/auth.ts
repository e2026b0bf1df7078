import type { Sql } from 'postgres';
import type { LoginRequest, User } from '@roster/shared';
import { verifyAgainstDummy, verifyPassword } from '../auth/passwords.ts';
import { createSession, generateSessionToken, type SessionRow } from '../auth/sessions.ts';
import { clearAccountFailures, loginRetryAfter, recordLoginFailure, type ThrottleLimits } from '../auth/login-throttle.ts';
import { AppError } from '../http/errors.ts';
import { recordEvent, type Actor } from './events.ts';
import { findUserByLogin, toUserDto, type UserRow } from './users.ts';

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export interface SignedIn {
  token: string;
  session: SessionRow;
  user: User;
}

/**
 * Checks the throttle, then the password. An unknown login and a wrong password take the same time
 * and give the same `invalid_credentials`; both count as failures for the account and the IP.
 */
export async function login(sql: Sql, request: LoginRequest, client: ClientInfo, limits: ThrottleLimits): Promise<SignedIn> {
  const row = await findUserByLogin(sql, request.login);
  const subject = { ip: client.ip, account: row?.id ?? request.login.toLowerCase() };
  const retryAfter = await loginRetryAfter(sql, subject, limits);
  if (retryAfter > 0) {
    throw new AppError('rate_limited', 'Too many failed sign-ins; try again later', undefined, {
      'Retry-After': String(retryAfter),
    });
  }
  const valid = row ? await verifyPassword(row.password_hash, request.password) : await verifyAgainstDummy(request.password);
  if (!row || !valid) {
    await recordLoginFailure(sql, subject, limits);
    await recordEvent(sql, { id: null, label: request.login, ip: client.ip }, {
      action: 'auth.login_failed',
      targetType: 'user',
      targetId: row?.id ?? null,
      targetLabel: row?.username ?? request.login,
    });
    throw new AppError('invalid_credentials', 'The login or password is wrong');
  }
  if (row.status !== 'active') {
    throw new AppError('forbidden', 'Your account is deactivated. Ask an administrator to reactivate it.');
  }
  await clearAccountFailures(sql, row.id);
  return startSession(sql, row, client);
}

/** Opens a session for a user who has just proven who they are (sign-in or first-run setup). */
export async function startSession(sql: Sql, row: Pick<UserRow, 'id' | 'username'>, client: ClientInfo): Promise<SignedIn> {
  const token = generateSessionToken();
  return sql.begin(async (tx) => {
    const session = await createSession(tx, token, row.id, client);
    const [updated] = await tx<UserRow[]>`UPDATE users SET last_login_at = now() WHERE id = ${row.id} RETURNING *`;
    const actor: Actor = { id: row.id, label: row.username, ip: client.ip };
    await recordEvent(tx, actor, {
      action: 'session.created',
      targetType: 'session',
      targetId: session.id,
      targetLabel: row.username,
      data: { user_id: row.id, ip: client.ip, user_agent: client.userAgent },
    });
    return { token, session, user: toUserDto(updated!) };
  });
}

export async function logout(sql: Sql, actor: Actor, sessionId: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [ended] = await tx<{ user_id: string }[]>`DELETE FROM sessions WHERE id = ${sessionId} RETURNING user_id`;
    if (!ended) return;
    await recordEvent(tx, actor, {
      action: 'session.revoked',
      targetType: 'session',
      targetId: sessionId,
      targetLabel: actor.label,
      data: { user_id: ended.user_id, reason: 'logout' },
    });
  });
}
