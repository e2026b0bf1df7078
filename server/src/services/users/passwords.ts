import type { Sql, TransactionSql } from 'postgres';
import type { SessionEndReason, User } from '@roster/shared';
import { hashPassword } from '../../auth/passwords.ts';
import { lockForWrite, type Actor } from '../../data/locks.ts';
import { transaction } from '../../data/transaction.ts';
import { findUserByLogin, toUserDto, type UserRow } from '../../data/users.ts';
import { AppError } from '../../errors.ts';
import { revokeUserApiKeys } from '../api-keys.ts';
import { endApplicationSessions } from '../../oidc/logout.ts';
import { recordEvent } from '../events.ts';
import { revokeSessions } from '../sessions.ts';

export interface PasswordChange {
  /** End the user's sessions: all of them, or all but `keepSessionId`. */
  sessions: boolean;
  keepSessionId?: string | null;
  /** End the user's API keys. */
  credentials: boolean;
  /** Forget the user's trusted browsers (an admin reset: the new password is not the owner's yet). */
  devices: boolean;
  /** Chosen by someone else: the next sign-in must replace it. */
  temporary: boolean;
  reason: Extract<SessionEndReason, 'password_reset' | 'password_changed'>;
  /** Chosen with a reset link sent by mail. */
  viaLink?: boolean;
}

/** Sets a new password on a user locked by the caller, and ends what `change` names, each with its event. */
export async function setPassword(tx: TransactionSql, actor: Actor, user: UserRow, passwordHash: string, change: PasswordChange): Promise<User> {
  const [row] = await tx<UserRow[]>`
    UPDATE users SET password_hash = ${passwordHash}, password_change_required = ${change.temporary},
                     version = version + 1, updated_at = now()
    WHERE id = ${user.id} RETURNING *`;
  const updated = toUserDto(row!);
  recordEvent(tx, actor, {
    action: 'user.password_reset',
    targetType: 'user',
    targetId: updated.id,
    targetLabel: updated.username,
    data: { user: updated, revoke_sessions: change.sessions, revoke_credentials: change.credentials, by_self: change.reason === 'password_changed', ...(change.viaLink ? { via_link: true } : {}) },
    version: updated.version,
  });
  if (change.sessions) await revokeSessions(tx, actor, { userId: user.id, exceptSessionId: change.keepSessionId }, change.reason);
  if (change.credentials) await revokeUserApiKeys(tx, actor, user.id);
  if (change.devices) await tx`DELETE FROM trusted_devices WHERE user_id = ${user.id}`;
  // A reset link asked for before this change stops working (a trigger, migration 009).
  return updated;
}

/**
 * An admin sets another user's password: it is temporary (the user chooses their own at the next
 * sign-in), and the user's API keys and trusted browsers end with the old one (ASVS 6.4.1).
 */
export async function resetPassword(sql: Sql, actor: Actor, id: string, password: string, endSessions: boolean): Promise<User> {
  // One's own password is changed with the current one, on a browser session (PUT /me/password):
  // a reset of oneself would let an API key or an unattended cookie choose it.
  if (actor.id !== null && actor.id === id) {
    throw new AppError('self_action', 'Change your own password on your account page, with your current one');
  }
  const passwordHash = await hashPassword(password);
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [id] });
    const user = users.get(id);
    if (!user) throw new AppError('not_found', 'No such user');
    const updated = await setPassword(tx, actor, user, passwordHash, { sessions: endSessions, credentials: true, devices: true, temporary: true, reason: 'password_reset' });
    // What applications hold ends with the old password too, whether or not Roster sessions do.
    await endApplicationSessions(tx, { accountId: id }, 'password_reset');
    return updated;
  });
}



/** The command line's reset, for an admin locked out: everything of the user ends. */
export async function resetPasswordByLogin(sql: Sql, actor: Actor, login: string, password: string): Promise<User> {
  const found = await findUserByLogin(sql, login);
  if (!found) throw new AppError('not_found', `No user with username or email "${login}"`);
  return resetPassword(sql, actor, found.id, password, true);
}
