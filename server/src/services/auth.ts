import type { Sql } from 'postgres';
import type { LoginRequest, User } from '@roster/shared';
import { verifyAgainstDummy, verifyPassword } from '../auth/passwords.ts';
import type { Principal } from '../auth/principal.ts';
import { createSession, generateSessionToken, type SessionRow } from '../auth/sessions.ts';
import { clearAccountFailures, loginRetryAfter, recordLoginFailure, type ThrottleLimits } from '../auth/login-throttle.ts';
import { AppError } from '../http/errors.ts';
import { recordEvent, type Actor } from './events.ts';
import { revokeSessions } from './sessions.ts';
import { findUserByLogin, insertUser, setPassword, toUserDto, type UserRow } from './users.ts';

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export interface SignedIn {
  token: string;
  session: SessionRow;
  user: User;
}

async function assertNotThrottled(sql: Sql, subject: { ip: string | null; account: string }, limits: ThrottleLimits) {
  const retryAfter = await loginRetryAfter(sql, subject, limits);
  if (retryAfter > 0) {
    throw new AppError('rate_limited', 'Too many failed attempts; try again later', undefined, {
      'Retry-After': String(retryAfter),
    });
  }
}

/**
 * Checks the throttle, then the password. An unknown login and a wrong password take the same time
 * and give the same `invalid_credentials`; both count as failures for the account and the IP.
 */
export async function login(sql: Sql, request: LoginRequest, client: ClientInfo, limits: ThrottleLimits): Promise<SignedIn> {
  const row = await findUserByLogin(sql, request.login);
  const subject = { ip: client.ip, account: row?.id ?? request.login.toLowerCase() };
  await assertNotThrottled(sql, subject, limits);
  const valid = row ? await verifyPassword(row.password_hash, request.password) : await verifyAgainstDummy(request.password);
  if (!row || !valid) {
    await recordLoginFailure(sql, subject, limits);
    await sql.begin((tx) =>
      recordEvent(tx, { id: null, label: request.login, ip: client.ip }, {
        action: 'auth.login_failed',
        targetType: 'user',
        targetId: row?.id ?? null,
        targetLabel: row?.username ?? request.login,
      }),
    );
    throw new AppError('invalid_credentials', 'The login or password is wrong');
  }
  if (row.status !== 'active') {
    throw new AppError('forbidden', 'Your account is deactivated. Ask an administrator to reactivate it.');
  }
  await clearAccountFailures(sql, row.id);
  return startSession(sql, row, client);
}

/** Opens a session for a user who has just proven who they are (sign-in, setup, registration). */
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
      data: {
        user_id: row.id,
        display_name: updated!.display_name,
        ip: client.ip,
        user_agent: client.userAgent,
        last_login_at: updated!.last_login_at,
        expires_at: session.expires_at,
      },
    });
    return { token, session, user: toUserDto(updated!) };
  });
}

export async function logout(sql: Sql, actor: Actor, principal: Principal): Promise<void> {
  await sql.begin((tx) =>
    revokeSessions(tx, actor, { userId: principal.user!.id, sessionId: principal.session!.id }, 'logout'),
  );
}

export async function register(
  sql: Sql,
  request: { username: string; display_name: string; email: string; password: string },
  client: ClientInfo,
): Promise<SignedIn> {
  const user = await sql.begin((tx) =>
    insertUser(tx, { id: null, label: 'registration', ip: client.ip }, { ...request, role: 'user' }),
  );
  return startSession(sql, user, client);
}

/**
 * Changes one's own password. The current password is checked like a sign-in (throttled, failures
 * counted); the other sessions end, the one making the change stays.
 */
export async function changeOwnPassword(
  sql: Sql,
  actor: Actor,
  principal: Principal,
  request: { current_password: string; new_password: string },
  limits: ThrottleLimits,
): Promise<void> {
  const userId = principal.user!.id;
  const subject = { ip: actor.ip, account: userId };
  await assertNotThrottled(sql, subject, limits);
  const [row] = await sql<{ password_hash: string }[]>`SELECT password_hash FROM users WHERE id = ${userId}`;
  if (!row || !(await verifyPassword(row.password_hash, request.current_password))) {
    await recordLoginFailure(sql, subject, limits);
    throw new AppError('validation_failed', 'Some fields are invalid', { current_password: 'The current password is wrong' });
  }
  await sql.begin((tx) =>
    setPassword(tx, actor, userId, request.new_password, {
      sessions: true,
      keepSessionId: principal.session?.id ?? null,
      reason: 'password_changed',
    }),
  );
}
