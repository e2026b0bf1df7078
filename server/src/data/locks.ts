import type { TransactionSql } from 'postgres';
import { can, type Access, type Capability, type Role } from '@roster/shared';
import { AppError } from '../errors.ts';
import type { UserRow } from './users.ts';

/*
 * The lock order. Every writing transaction takes its locks in this order, so two transactions
 * never wait on each other in a cycle (PostgreSQL would abort one of them with a deadlock):
 *
 *   1. the admin-guard advisory lock (ADMIN_GUARD_LOCK), when a change could leave fewer active admins;
 *      the "sign out everyone" advisory lock (EVERY_SESSION_LOCK, services/sessions.ts), which no
 *      transaction holding the other takes;
 *   2. rows of `users`, in id order, all in one place (`lockForWrite`): the acting user FOR SHARE
 *      (so a demotion or deactivation of the actor waits for this write, or this write sees it),
 *      the users being changed FOR UPDATE, users only referred to FOR SHARE;
 *   3. rows that belong to users: the actor's own session or API key FOR SHARE, then sessions,
 *      API keys, devices, projects and memberships, usage;
 *   4. the event-order advisory lock, taken when the transaction's events are written, just
 *      before commit (services/events.ts), after every row lock.
 *
 * Anything that still collides (two bulk actions over the same users in opposite orders) is retried
 * by `transaction()`, never answered with a 500.
 */

export type Credential = { kind: 'session'; sessionId: string } | { kind: 'api_key'; apiKeyId: string };

/** Who a change is made by, as the audit log records it. */
export interface Actor {
  /** The acting user; null for a system API key, the command line, setup and anonymous sign-ins. */
  id: string | null;
  label: string;
  ip: string | null;
  /** What the request authenticated with: re-checked inside every writing transaction. */
  credential?: Credential;
  /** The route's access rule, re-checked against the actor's role as it is when the write happens. */
  access?: Access;
  /** The route serves a user who must still replace a password someone else set (re-checked too). */
  duringPasswordChange?: boolean;
  /** How recent the session's last password check must be for a `recentAuth` write (REAUTH_MINUTES). */
  reauthWindowMs?: number;
}

export interface Locked {
  /** The actor's role now (system keys act as admin); null for actors without a credential. */
  role: Role | null;
  /** The locked users by id (absent: no such user). */
  users: Map<string, UserRow>;
}

const ACCESS_WITHOUT_CAPABILITY: readonly Access[] = ['public', 'signed_in', 'account', 'session'];

// Transactions whose actor was re-checked; events refuse to be written by an unchecked actor.
const checked = new WeakSet<TransactionSql>();

/**
 * Steps 2 and 3 of the lock order for the actor: locks the users a write touches, then re-checks
 * the actor against the database as it is now. A request that was authorised when it arrived but
 * whose session was revoked, whose user was deactivated or demoted, or whose key was revoked before
 * this point is refused (and one whose password an admin has set since, unless the route serves
 * choosing a new one); one that gets here first holds its locks, so the revocation waits for it.
 */
export async function lockForWrite(
  tx: TransactionSql,
  actor: Actor,
  targets: { change?: string[]; read?: string[]; recentAuth?: boolean } = {},
): Promise<Locked> {
  const modes = new Map<string, 'update' | 'share'>();
  for (const id of targets.read ?? []) modes.set(id, 'share');
  if (actor.credential && actor.id) modes.set(actor.id, modes.get(actor.id) ?? 'share');
  for (const id of targets.change ?? []) modes.set(id, 'update');
  const users = new Map<string, UserRow>();
  // In id order (the global lock order), one query per run of ids locked the same way: a chunk of
  // 500 imported users is one round trip, not 500. ORDER BY comes before the locking clause, so a
  // query locks its rows in that order.
  const ids = [...modes.keys()].sort();
  for (let start = 0; start < ids.length; ) {
    const mode = modes.get(ids[start]!)!;
    let end = start + 1;
    while (end < ids.length && modes.get(ids[end]!) === mode) end++;
    const run = ids.slice(start, end);
    const rows =
      mode === 'update'
        ? await tx<UserRow[]>`SELECT * FROM users WHERE id = ANY(${run}::uuid[]) ORDER BY id FOR UPDATE`
        : await tx<UserRow[]>`SELECT * FROM users WHERE id = ANY(${run}::uuid[]) ORDER BY id FOR SHARE`;
    for (const row of rows) users.set(row.id, row);
    start = end;
  }
  const role = actor.credential ? await recheckActor(tx, actor, actor.id ? users.get(actor.id) : undefined) : null;
  checked.add(tx);
  if (targets.recentAuth) await assertRecentAuth(tx, actor);
  return { role, users };
}

async function recheckActor(tx: TransactionSql, actor: Actor, user: UserRow | undefined): Promise<Role> {
  const credential = actor.credential!;
  if (credential.kind === 'session') {
    const [session] = await tx`SELECT 1 FROM sessions WHERE id = ${credential.sessionId} AND user_id = ${actor.id} FOR SHARE`;
    if (!session || !user || user.status !== 'active') throw new AppError('unauthenticated', 'Your session has ended; sign in again');
  } else {
    const [key] = await tx`SELECT 1 FROM api_keys WHERE id = ${credential.apiKeyId} FOR SHARE`;
    if (!key || (actor.id && (!user || user.status !== 'active'))) {
      throw new AppError('unauthenticated', 'The API key is invalid, expired or revoked');
    }
  }
  // A password an admin set since the request was authorised: only what that allows goes on.
  if (user?.password_change_required && actor.access && !actor.duringPasswordChange) {
    throw new AppError('password_change_required', 'Choose your own password first: yours was set by an administrator');
  }
  const role = user?.role ?? 'admin';
  if (actor.access && !ACCESS_WITHOUT_CAPABILITY.includes(actor.access) && !can(role, actor.access as Capability)) {
    throw new AppError('forbidden', 'Your role does not allow this');
  }
  return role;
}

/**
 * Changes to one's own sign-in details and sessions need a password check on this session within
 * REAUTH_MINUTES (ASVS 7.5.1, 7.5.2); API keys cannot make them at all. Call after `lockForWrite`.
 */
export async function assertRecentAuth(tx: TransactionSql, actor: Actor): Promise<void> {
  if (actor.credential?.kind !== 'session') {
    throw new AppError('forbidden', 'Only a browser session can do this, after confirming the password');
  }
  const [session] = await tx<{ recent: boolean }[]>`
    SELECT authenticated_at > now() - ${actor.reauthWindowMs ?? 0} * interval '1 millisecond' AS recent
    FROM sessions WHERE id = ${actor.credential.sessionId}`;
  if (!session?.recent) throw new AppError('reauthentication_required', 'Confirm your password to continue');
}

/** Refuses to write an event for an actor with a credential that was never re-checked in `tx`. */
export function assertActorChecked(tx: TransactionSql, actor: Actor): void {
  if (actor.credential && !checked.has(tx)) {
    throw new Error(`a write by ${actor.label} did not re-check its actor (lockForWrite) before recording events`);
  }
}
