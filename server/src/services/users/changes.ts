import { randomBytes } from 'node:crypto';
import postgres, { type Sql, type TransactionSql } from 'postgres';
import type { BulkRequest, BulkResult, CreateUserRequest, Role, User } from '@roster/shared';
import { hashPassword } from '../../auth/passwords.ts';
import { assertRecentAuth, lockForWrite, type Actor } from '../../data/locks.ts';
import { transaction } from '../../data/transaction.ts';
import { toUserDto, type UserRow } from '../../data/users.ts';
import { AppError, versionConflict } from '../../errors.ts';
import type { MailDeps } from '../../mail/links.ts';
import { noticeAfterCommit } from '../../mail/notices.ts';
import { endApplicationSessions } from '../../oidc/logout.ts';
import { recordEvent } from '../events.ts';
import { leaveApplications } from '../applications.ts';
import { disposeOwnedProjects, leaveProjects } from '../projects.ts';
import { revokeSessions } from '../sessions.ts';

// Creating, changing and deleting users, with every guard inside the transaction.

// Step 1 of the lock order (data/locks.ts): every change that could leave fewer active admins takes
// this lock first, then counts; two admins demoting each other at once are serialised, and the
// second sees the first.
export const ADMIN_GUARD_LOCK = 7_264_002;

export interface NewUser {
  username: string;
  display_name: string;
  email: string;
  role: Role;
  password: string;
  /** The password was chosen by an admin or generated: it works for one sign-in, then must be replaced. */
  temporary?: boolean;
  can_share_publicly?: boolean;
  token_budget?: number | null;
  minute_budget?: number | null;
}

/** Maps a unique violation on users to `username_taken` / `email_taken`; anything else passes through. */
export function uniquenessError(error: unknown): unknown {
  if (error instanceof postgres.PostgresError && error.code === '23505') {
    if (error.constraint_name === 'users_username_key') {
      return new AppError('username_taken', 'That username is taken', { username: 'Already taken' });
    }
    if (error.constraint_name === 'users_email_key') {
      return new AppError('email_taken', 'That email is already in use', { email: 'Already in use' });
    }
  }
  return error;
}

/** Inserts a user and its `user.created` event in the caller's transaction (the actor already checked). */
export async function insertUser(tx: TransactionSql, actor: Actor, input: Omit<NewUser, 'password'> & { passwordHash: string }): Promise<User> {
  const [row] = await tx<UserRow[]>`
    INSERT INTO users (username, display_name, email, role, password_hash, password_change_required,
                       can_share_publicly, token_budget, minute_budget)
    VALUES (${input.username}, ${input.display_name}, ${input.email}, ${input.role}, ${input.passwordHash},
            ${input.temporary ?? false}, ${input.can_share_publicly ?? false}, ${input.token_budget ?? null},
            ${input.minute_budget ?? null})
    RETURNING *`.catch((error: unknown) => {
    throw uniquenessError(error);
  });
  const user = toUserDto(row!);
  recordEvent(tx, actor, {
    action: 'user.created',
    targetType: 'user',
    targetId: user.id,
    targetLabel: user.username,
    data: { user },
    version: user.version,
  });
  return user;
}

export async function createUser(sql: Sql, actor: Actor, input: NewUser): Promise<User> {
  // Hashing takes tens of milliseconds: done before the transaction, so no lock waits for it.
  const { password, ...profile } = input;
  const passwordHash = await hashPassword(password);
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    return insertUser(tx, actor, { ...profile, passwordHash });
  });
}

/** A random password of 20 characters for "generate a password", shown to the admin once. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

/** An admin's new user: the password (typed or generated) is temporary, the first sign-in replaces it. */
export async function createUserAsAdmin(
  sql: Sql,
  actor: Actor,
  request: CreateUserRequest,
): Promise<{ user: User; generated_password?: string }> {
  const generated = request.generate_password ? generatePassword() : undefined;
  const { generate_password: _, password, ...profile } = request;
  const user = await createUser(sql, actor, { ...profile, password: password ?? generated!, temporary: true });
  return generated ? { user, generated_password: generated } : { user };
}

export type UserChanges = Partial<
  Pick<User, 'username' | 'display_name' | 'email' | 'role' | 'status' | 'can_share_publicly' | 'token_budget' | 'minute_budget'>
>;

/**
 * Applies changes to one user in the caller's transaction, with every guard: optimistic version
 * (when given), no self-demotion or self-deactivation, never zero active admins, a recent password
 * check for one's own email or username. Deactivation ends the user's sessions. No real change
 * means no new version and no event.
 */
async function changeUser(tx: TransactionSql, actor: Actor, id: string, changes: UserChanges, expectedVersion?: number, mail?: MailDeps): Promise<User> {
  const mayReduceAdmins = (changes.role !== undefined && changes.role !== 'admin') || changes.status === 'inactive';
  if (mayReduceAdmins) await tx`SELECT pg_advisory_xact_lock(${ADMIN_GUARD_LOCK})`;
  const { users } = await lockForWrite(tx, actor, { change: [id] });
  const row = users.get(id);
  if (!row) throw new AppError('not_found', 'No such user');
  if (expectedVersion !== undefined && expectedVersion !== row.version) {
    throw versionConflict(toUserDto(row));
  }
  return applyUserChanges(tx, actor, row, changes, mail);
}

/**
 * The rest of `changeUser`, for a caller that already holds the user's row lock (and, when the
 * change may leave fewer active admins, the admin-guard lock): the CSV import locks a chunk's users
 * at once. With `mail`, the owner is told of a new email address (at the old one) or username.
 */
export async function applyUserChanges(tx: TransactionSql, actor: Actor, row: UserRow, changes: UserChanges, mail?: MailDeps): Promise<User> {
  const id = row.id;
  const before = toUserDto(row);
  const changed = Object.fromEntries(
    Object.entries(changes).filter(([field, value]) => value !== undefined && before[field as keyof User] !== value),
  ) as UserChanges;
  if (Object.keys(changed).length === 0) return before;

  const self = actor.id === id;
  if (self && ((changed.role && changed.role !== 'admin' && row.role === 'admin') || changed.status === 'inactive')) {
    throw new AppError('self_action', 'You cannot demote or deactivate yourself');
  }
  if (self && actor.credential && (changed.email !== undefined || changed.username !== undefined)) await assertRecentAuth(tx, actor);
  const staysActiveAdmin = (changed.role ?? row.role) === 'admin' && (changed.status ?? row.status) === 'active';
  if (row.role === 'admin' && row.status === 'active' && !staysActiveAdmin) await assertAnotherActiveAdmin(tx, id);

  const [updated] = await tx<UserRow[]>`
    UPDATE users SET ${tx(changed as Record<string, unknown>)}, version = version + 1, updated_at = now()
    WHERE id = ${id} RETURNING *`.catch((error: unknown) => {
    throw uniquenessError(error);
  });
  const user = toUserDto(updated!);
  const diff = Object.fromEntries(Object.keys(changed).map((f) => [f, { from: before[f as keyof User], to: user[f as keyof User] }]));
  recordEvent(tx, actor, {
    action: 'user.updated',
    targetType: 'user',
    targetId: user.id,
    targetLabel: user.username,
    data: { user, changes: diff },
    version: user.version,
  });
  if (changed.email !== undefined) noticeAfterCommit(tx, mail, row, { kind: 'email', newEmail: user.email });
  if (changed.username !== undefined) noticeAfterCommit(tx, mail, user, { kind: 'username', newUsername: user.username });
  if (changed.status === 'inactive') {
    await revokeSessions(tx, actor, { userId: id }, 'deactivated');
    await endApplicationSessions(tx, { accountId: id }, 'deactivated');
  }
  return user;
}

async function assertAnotherActiveAdmin(tx: TransactionSql, exceptId: string): Promise<void> {
  const [other] = await tx`SELECT 1 FROM users WHERE role = 'admin' AND status = 'active' AND id <> ${exceptId} LIMIT 1`;
  if (!other) throw new AppError('last_admin', 'Roster needs at least one active admin');
}

/**
 * Admin edits and self-service profile changes alike; each route's schema limits the fields
 * (`PATCH /me`: display name and email only). The version is checked when given.
 */
export async function updateUser(sql: Sql, actor: Actor, id: string, request: UserChanges & { version?: number }, mail?: MailDeps): Promise<User> {
  const { version, ...changes } = request;
  return transaction(sql, (tx) => changeUser(tx, actor, id, changes, version, mail));
}

export type ProjectDisposal = { projects: 'delete' | 'transfer'; transfer_to?: string };

async function removeUser(tx: TransactionSql, actor: Actor, id: string, disposal: ProjectDisposal = { projects: 'delete' }): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${ADMIN_GUARD_LOCK})`;
  const heir = disposal.projects === 'transfer' && disposal.transfer_to && disposal.transfer_to !== id ? [disposal.transfer_to] : [];
  const { users } = await lockForWrite(tx, actor, { change: [id], read: heir });
  const row = users.get(id);
  if (!row) throw new AppError('not_found', 'No such user');
  if (actor.id === id) throw new AppError('self_action', 'You cannot delete yourself');
  if (row.role === 'admin' && row.status === 'active') await assertAnotherActiveAdmin(tx, id);
  await leaveProjects(tx, actor, id);
  await leaveApplications(tx, actor, id);
  await disposeOwnedProjects(tx, actor, id, disposal);
  await revokeSessions(tx, actor, { userId: id }, 'deleted');
  await endApplicationSessions(tx, { accountId: id }, 'deleted');
  await tx`DELETE FROM users WHERE id = ${id}`;
  recordEvent(tx, actor, {
    action: 'user.deleted',
    targetType: 'user',
    targetId: id,
    targetLabel: row.username,
    data: { user: toUserDto(row) },
    version: row.version + 1,
  });
}

export async function deleteUser(sql: Sql, actor: Actor, id: string, disposal?: ProjectDisposal): Promise<void> {
  await transaction(sql, (tx) => removeUser(tx, actor, id, disposal));
}

/**
 * One transaction per user, so one refusal (a guard, a vanished user) does not undo the others;
 * the result says what happened to each id, in the order given.
 */
export async function bulkUpdate(sql: Sql, actor: Actor, request: BulkRequest): Promise<BulkResult> {
  const results: BulkResult['results'] = [];
  for (const id of new Set(request.ids)) {
    try {
      await transaction(sql, async (tx) => {
        if (request.action === 'delete') return removeUser(tx, actor, id);
        const changes: UserChanges =
          request.action === 'set_role' ? { role: request.role } : { status: request.action === 'activate' ? 'active' : 'inactive' };
        return changeUser(tx, actor, id, changes);
      });
      results.push({ id, ok: true });
    } catch (error) {
      // The actor lost the right to act: the rest of the batch is refused the same way.
      if (!(error instanceof AppError) || error.code === 'unauthenticated' || error.code === 'forbidden') throw error;
      results.push({ id, ok: false, error: { code: error.code, message: error.message } });
    }
  }
  return { results };
}
