import type { Sql, TransactionSql } from 'postgres';
import type { EventData, User } from '@roster/shared';
import { hashPassword, verifyPassword } from '../auth/passwords.ts';
import { rotateSessionToken, type SessionRow } from '../auth/sessions.ts';
import { attemptSucceeded } from '../auth/throttle.ts';
import { assertRecentAuth, lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import type { UserRow } from '../data/users.ts';
import { AppError } from '../errors.ts';
import type { MailDeps } from '../mail/links.ts';
import { throttle, type SignInLimits } from './auth.ts';
import { recordEvent } from './events.ts';
import { updateUser } from './users/changes.ts';
import { setPassword } from './users/passwords.ts';

// Self-service: what a signed-in user does to their own account.

/** Email changes a user may try per hour: the answer tells whether an address is taken. */
const EMAIL_CHANGES_PER_HOUR = 5;

/**
 * Checks the signed-in user's password like a sign-in (counted first, per account), without the
 * hash in hand. A wrong password is a field error, not a sign-out.
 */
async function checkOwnPassword(sql: Sql, userId: string, password: string, field: string, limits: SignInLimits) {
  const attempt = await throttle(sql, [{ scope: 'reauth', key: userId, max: limits.perLogin }], limits.windowMs);
  const [row] = await sql<Pick<UserRow, 'password_hash'>[]>`SELECT password_hash FROM users WHERE id = ${userId}`;
  if (!row || !(await verifyPassword(row.password_hash, password))) {
    throw new AppError('validation_failed', 'Some fields are invalid', { [field]: 'The password is wrong' });
  }
  await attemptSucceeded(sql, attempt, [{ scope: 'reauth', key: userId }]);
  return row.password_hash;
}

/**
 * Re-authentication before a sensitive change (ASVS 7.5.1): the password checked again, the check
 * recorded on the session, and the session's token replaced (ASVS 7.2.4).
 */
export async function reauthenticate(sql: Sql, actor: Actor, password: string, limits: SignInLimits): Promise<{ token: string; session: SessionRow }> {
  if (actor.credential?.kind !== 'session' || !actor.id) throw new AppError('forbidden', 'Only a browser session can confirm a password');
  const session = { userId: actor.id, sessionId: actor.credential.sessionId };
  await checkOwnPassword(sql, actor.id, password, 'password', limits);
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    return rotate(tx, actor, session, 'reauthenticated');
  });
}

/** Replaces the session's token and records it, so connections opened with the old one close. */
async function rotate(
  tx: TransactionSql,
  actor: Actor,
  { userId, sessionId }: { userId: string; sessionId: string },
  reason: EventData<'session.rotated'>['reason'],
) {
  const rotated = await rotateSessionToken(tx, sessionId);
  recordEvent(tx, actor, {
    action: 'session.rotated',
    targetType: 'session',
    targetId: sessionId,
    targetLabel: actor.label,
    data: { user_id: userId, reason },
  });
  return rotated;
}

/**
 * Changes one's own password: the current one is checked like a sign-in; the other sessions end
 * (and, when asked, the API keys); this session stays with a new token. A temporary password set
 * by an admin is replaced this way.
 */
export async function changeOwnPassword(
  sql: Sql,
  actor: Actor,
  request: { current_password: string; new_password: string; end_api_keys: boolean },
  limits: SignInLimits,
): Promise<{ token: string; session: SessionRow; user: User }> {
  if (actor.credential?.kind !== 'session' || !actor.id) throw new AppError('forbidden', 'Only a browser session can change the password');
  const { sessionId } = actor.credential;
  const verifiedHash = await checkOwnPassword(sql, actor.id, request.current_password, 'current_password', limits);
  if (request.new_password === request.current_password) {
    throw new AppError('validation_failed', 'Some fields are invalid', { new_password: 'Choose a password different from the current one' });
  }
  const passwordHash = await hashPassword(request.new_password);
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [actor.id!] });
    const row = users.get(actor.id!)!;
    // Changed by someone else since it was checked: the check no longer holds.
    if (row.password_hash !== verifiedHash) throw new AppError('validation_failed', 'Some fields are invalid', { current_password: 'The password is wrong' });
    const user = await setPassword(tx, actor, row, passwordHash, {
      sessions: true,
      keepSessionId: sessionId,
      credentials: request.end_api_keys,
      // The owner's browsers stay trusted: forgetting them would expose the owner to lockout.
      devices: false,
      temporary: false,
      reason: 'password_changed',
    });
    return { ...(await rotate(tx, actor, { userId: row.id, sessionId }, 'password_changed')), user };
  });
}

/**
 * One's own display name and email. A new email needs a recent password check, is throttled per
 * user, and a taken address gets the same answer as any address that cannot be used, so the form
 * is no directory of who has an account (ASVS 6.3.8).
 */
export async function updateOwnProfile(
  sql: Sql,
  actor: Actor,
  request: { version?: number; display_name?: string; email?: string },
  mail?: MailDeps,
): Promise<User> {
  const [current] = await sql<{ same: boolean }[]>`SELECT email = ${request.email ?? null} AS same FROM users WHERE id = ${actor.id}`;
  if (request.email !== undefined && !current?.same) {
    // Asked for first, so the retry after confirming the password is the only attempt counted.
    await transaction(sql, (tx) => assertRecentAuth(tx, actor));
    await throttle(sql, [{ scope: 'email_change', key: actor.id!, max: EMAIL_CHANGES_PER_HOUR }], 60 * 60 * 1000, 'Too many email changes');
  }
  return updateUser(sql, actor, actor.id!, request, mail).catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'email_taken') {
      throw new AppError('validation_failed', 'Some fields are invalid', { email: 'This address cannot be used; try another' });
    }
    throw error;
  });
}
