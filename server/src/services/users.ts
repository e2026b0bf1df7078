import { randomBytes } from 'node:crypto';
import postgres, { type Sql, type TransactionSql } from 'postgres';
import {
  meterUsage,
  type BulkRequest,
  type BulkResult,
  type CreateUserRequest,
  type Role,
  type User,
  type UserList,
  type UserListQuery,
  type UserStats,
  type UserStatus,
} from '@roster/shared';
import { hashPassword } from '../auth/passwords.ts';
import { AppError, versionConflict } from '../http/errors.ts';
import { recordEvent, type Actor } from './events.ts';
import { disposeOwnedProjects } from './projects.ts';
import { revokeSessions } from './sessions.ts';
import { monthOf } from './usage.ts';

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  email: string;
  role: Role;
  status: UserStatus;
  password_hash: string;
  can_share_publicly: boolean;
  /** bigint arrives as text. */
  token_budget: string | null;
  minute_budget: number | null;
  version: number;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
}

// Every change that could leave fewer active admins takes this transaction-level lock first, then
// counts: two admins demoting each other at once are serialised, and the second sees the first.
const ADMIN_GUARD_LOCK = 7_264_002;

export function toUserDto(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    display_name: row.display_name,
    email: row.email,
    role: row.role,
    status: row.status,
    can_share_publicly: row.can_share_publicly,
    token_budget: row.token_budget === null ? null : Number(row.token_budget),
    minute_budget: row.minute_budget,
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_login_at: row.last_login_at?.toISOString() ?? null,
  };
}

export interface NewUser {
  username: string;
  display_name: string;
  email: string;
  role: Role;
  password: string;
  can_share_publicly?: boolean;
  token_budget?: number | null;
  minute_budget?: number | null;
}

/** Maps a unique violation on users to `username_taken` / `email_taken`; anything else passes through. */
function uniquenessError(error: unknown): unknown {
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

/** Inserts a user and its `user.created` event in the caller's transaction. */
export async function insertUser(tx: TransactionSql, actor: Actor, input: NewUser): Promise<User> {
  const passwordHash = await hashPassword(input.password);
  const [row] = await tx<UserRow[]>`
    INSERT INTO users (username, display_name, email, role, password_hash, can_share_publicly, token_budget, minute_budget)
    VALUES (${input.username}, ${input.display_name}, ${input.email}, ${input.role}, ${passwordHash},
            ${input.can_share_publicly ?? false}, ${input.token_budget ?? null}, ${input.minute_budget ?? null})
    RETURNING *`.catch((error: unknown) => {
    throw uniquenessError(error);
  });
  const user = toUserDto(row!);
  await recordEvent(tx, actor, {
    action: 'user.created',
    targetType: 'user',
    targetId: user.id,
    targetLabel: user.username,
    data: { user },
    version: user.version,
  });
  return user;
}

export function createUser(sql: Sql, actor: Actor, input: NewUser): Promise<User> {
  return sql.begin((tx) => insertUser(tx, actor, input));
}

/** A random password of 20 characters for "generate a password", shown to the admin once. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

export async function createUserAsAdmin(
  sql: Sql,
  actor: Actor,
  request: CreateUserRequest,
): Promise<{ user: User; generated_password?: string }> {
  const generated = request.generate_password ? generatePassword() : undefined;
  const { generate_password: _, password, ...profile } = request;
  const user = await createUser(sql, actor, { ...profile, password: password ?? generated! });
  return generated ? { user, generated_password: generated } : { user };
}

/** The user a sign-in names, by username or email (both case-insensitive). */
export async function findUserByLogin(sql: Sql, login: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    SELECT * FROM users WHERE username = ${login} OR email = ${login}
    ORDER BY username = ${login} DESC LIMIT 1`;
  return row;
}

export async function getUser(sql: Sql | TransactionSql, id: string): Promise<User> {
  const [row] = await sql<UserRow[]>`SELECT * FROM users WHERE id = ${id}`;
  if (!row) throw new AppError('not_found', 'No such user');
  return toUserDto(row);
}

interface ListExtras {
  sort_key: string;
  session_count: number;
  project_count: number;
  storage_bytes: string;
  api_key_count: number;
  tokens_used: string;
  minutes_used: string;
}

// ---- Listing ----------------------------------------------------------------------------------

const SEARCH_EXPRESSION = "lower(username::text || ' ' || display_name || ' ' || email::text)";

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => '\\' + c);
}

function encodeCursor(sortKey: string, id: string): string {
  return Buffer.from(JSON.stringify([sortKey, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      return value as [string, string];
    }
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', 'Some fields are invalid', { cursor: 'Not a cursor from this list' });
}

/** Filtered, searched, sorted users with keyset paging: `(sort key, id)` after the cursor's. */
export async function listUsers(sql: Sql, query: UserListQuery, now: Date): Promise<UserList> {
  const month = monthOf(now);
  const descending = query.sort.startsWith('-');
  const field = descending ? query.sort.slice(1) : query.sort;
  // Sort keys travel through the cursor as text (and are bound as text), so timestamps keep their microseconds.
  const sortKey = {
    username: { expr: sql`username`, type: sql`citext` },
    email: { expr: sql`email`, type: sql`citext` },
    created_at: { expr: sql`created_at`, type: sql`timestamptz` },
    last_login_at: { expr: sql`coalesce(last_login_at, '-infinity')`, type: sql`timestamptz` },
  }[field]!;

  const filters = sql`
    ${query.q ? sql`AND ${sql.unsafe(SEARCH_EXPRESSION)} LIKE ${'%' + escapeLike(query.q.toLowerCase()) + '%'}` : sql``}
    ${query.role ? sql`AND role = ${query.role}` : sql``}
    ${query.status ? sql`AND status = ${query.status}` : sql``}`;

  let after = sql``;
  if (query.cursor) {
    const [key, id] = decodeCursor(query.cursor);
    after = descending
      ? sql`AND (${sortKey.expr}, id) < (${key}::text::${sortKey.type}, ${id}::text::uuid)`
      : sql`AND (${sortKey.expr}, id) > (${key}::text::${sortKey.type}, ${id}::text::uuid)`;
  }
  const order = descending ? sql`${sortKey.expr} DESC, id DESC` : sql`${sortKey.expr} ASC, id ASC`;

  const [rows, [count]] = await Promise.all([
    sql<(UserRow & ListExtras)[]>`
      SELECT *, (${sortKey.expr})::text AS sort_key,
             (SELECT count(*)::int FROM sessions s WHERE s.user_id = users.id AND s.expires_at > now()) AS session_count,
             (SELECT count(*)::int FROM projects p WHERE p.owner_id = users.id) AS project_count,
             (SELECT coalesce(sum(p.size_bytes), 0) FROM projects p WHERE p.owner_id = users.id) AS storage_bytes,
             (SELECT count(*)::int FROM api_keys k WHERE k.user_id = users.id) AS api_key_count,
             (SELECT coalesce(sum(amount), 0) FROM usage_events e
              WHERE e.user_id = users.id AND e.meter = 'tokens' AND e.at >= ${month.start} AND e.at < ${month.end}) AS tokens_used,
             (SELECT coalesce(sum(amount), 0) FROM usage_events e
              WHERE e.user_id = users.id AND e.meter = 'minutes' AND e.at >= ${month.start} AND e.at < ${month.end}) AS minutes_used
      FROM users
      WHERE true ${filters} ${after}
      ORDER BY ${order}
      LIMIT ${query.limit + 1}`.catch((error: unknown) => {
      // A cursor whose key does not parse as the sort's type (a tampered or foreign cursor).
      if (query.cursor && error instanceof postgres.PostgresError && error.code.startsWith('22')) {
        throw new AppError('validation_failed', 'Some fields are invalid', { cursor: 'Not a cursor from this list' });
      }
      throw error;
    }),
    sql<{ total: number }[]>`SELECT count(*)::int AS total FROM users WHERE true ${filters}`,
  ]);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(({ sort_key: _, session_count, project_count, storage_bytes, api_key_count, tokens_used, minutes_used, ...row }) => {
      const user = toUserDto(row);
      return {
        ...user,
        session_count,
        project_count,
        storage_bytes: Number(storage_bytes),
        api_key_count,
        usage: { tokens: meterUsage(Number(tokens_used), user.token_budget), minutes: meterUsage(Number(minutes_used), user.minute_budget) },
      };
    }),
    next_cursor: rows.length > query.limit && last ? encodeCursor(last.sort_key, last.id) : null,
    total: count!.total,
  };
}

export async function userStats(sql: Sql, online: number): Promise<UserStats> {
  const [row] = await sql<Omit<UserStats, 'online'>[]>`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE status = 'active')::int AS active,
           count(*) FILTER (WHERE status = 'inactive')::int AS inactive,
           count(*) FILTER (WHERE role = 'admin')::int AS admins,
           count(*) FILTER (WHERE role = 'moderator')::int AS moderators,
           count(*) FILTER (WHERE role = 'user')::int AS users,
           (SELECT count(*)::int FROM sessions WHERE expires_at > now()) AS sessions
    FROM users`;
  return { ...row!, online };
}

// ---- Changes ----------------------------------------------------------------------------------

type UserChanges = Partial<
  Pick<User, 'username' | 'display_name' | 'email' | 'role' | 'status' | 'can_share_publicly' | 'token_budget' | 'minute_budget'>
>;

/**
 * Applies changes to one user in the caller's transaction, with every guard: optimistic version
 * (when given), no self-demotion or self-deactivation, never zero active admins. Deactivation ends
 * the user's sessions. No real change means no new version and no event.
 */
async function changeUser(
  tx: TransactionSql,
  actor: Actor,
  id: string,
  changes: UserChanges,
  expectedVersion?: number,
): Promise<User> {
  const mayReduceAdmins = (changes.role !== undefined && changes.role !== 'admin') || changes.status === 'inactive';
  if (mayReduceAdmins) await tx`SELECT pg_advisory_xact_lock(${ADMIN_GUARD_LOCK})`;
  const [row] = await tx<UserRow[]>`SELECT * FROM users WHERE id = ${id} FOR UPDATE`;
  if (!row) throw new AppError('not_found', 'No such user');
  const before = toUserDto(row);
  if (expectedVersion !== undefined && expectedVersion !== row.version) {
    throw versionConflict(before);
  }

  const changed = Object.fromEntries(
    Object.entries(changes).filter(([field, value]) => value !== undefined && before[field as keyof User] !== value),
  ) as UserChanges;
  if (Object.keys(changed).length === 0) return before;

  if (actor.id === id && ((changed.role && changed.role !== 'admin' && row.role === 'admin') || changed.status === 'inactive')) {
    throw new AppError('self_action', 'You cannot demote or deactivate yourself');
  }
  const staysActiveAdmin = (changed.role ?? row.role) === 'admin' && (changed.status ?? row.status) === 'active';
  if (row.role === 'admin' && row.status === 'active' && !staysActiveAdmin) await assertAnotherActiveAdmin(tx, id);

  const [updated] = await tx<UserRow[]>`
    UPDATE users SET ${tx(changed as Record<string, unknown>)}, version = version + 1, updated_at = now()
    WHERE id = ${id} RETURNING *`.catch((error: unknown) => {
    throw uniquenessError(error);
  });
  const user = toUserDto(updated!);
  const diff = Object.fromEntries(Object.keys(changed).map((f) => [f, { from: before[f as keyof User], to: user[f as keyof User] }]));
  await recordEvent(tx, actor, {
    action: 'user.updated',
    targetType: 'user',
    targetId: user.id,
    targetLabel: user.username,
    data: { user, changes: diff },
    version: user.version,
  });
  if (changed.status === 'inactive') await revokeSessions(tx, actor, { userId: id }, 'deactivated');
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
export async function updateUser(sql: Sql, actor: Actor, id: string, request: UserChanges & { version?: number }): Promise<User> {
  const { version, ...changes } = request;
  return sql.begin((tx) => changeUser(tx, actor, id, changes, version));
}

export type ProjectDisposal = { projects: 'delete' | 'transfer'; transfer_to?: string };

async function removeUser(tx: TransactionSql, actor: Actor, id: string, disposal: ProjectDisposal = { projects: 'delete' }): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${ADMIN_GUARD_LOCK})`;
  const [row] = await tx<UserRow[]>`SELECT * FROM users WHERE id = ${id} FOR UPDATE`;
  if (!row) throw new AppError('not_found', 'No such user');
  if (actor.id === id) throw new AppError('self_action', 'You cannot delete yourself');
  if (row.role === 'admin' && row.status === 'active') await assertAnotherActiveAdmin(tx, id);
  await disposeOwnedProjects(tx, actor, id, disposal);
  await revokeSessions(tx, actor, { userId: id }, 'deleted');
  await tx`DELETE FROM users WHERE id = ${id}`;
  await recordEvent(tx, actor, {
    action: 'user.deleted',
    targetType: 'user',
    targetId: id,
    targetLabel: row.username,
    data: { user: toUserDto(row) },
    version: row.version + 1,
  });
}

export async function deleteUser(sql: Sql, actor: Actor, id: string, disposal?: ProjectDisposal): Promise<void> {
  await sql.begin((tx) => removeUser(tx, actor, id, disposal));
}

/**
 * One transaction per user, so one refusal (a guard, a vanished user) does not undo the others;
 * the result says what happened to each id, in the order given.
 */
export async function bulkUpdate(sql: Sql, actor: Actor, request: BulkRequest): Promise<BulkResult> {
  const results: BulkResult['results'] = [];
  for (const id of new Set(request.ids)) {
    try {
      await sql.begin(async (tx) => {
        if (request.action === 'delete') return removeUser(tx, actor, id);
        const changes: UserChanges =
          request.action === 'set_role' ? { role: request.role } : { status: request.action === 'activate' ? 'active' : 'inactive' };
        return changeUser(tx, actor, id, changes);
      });
      results.push({ id, ok: true });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      results.push({ id, ok: false, error: { code: error.code, message: error.message } });
    }
  }
  return { results };
}

// ---- Passwords ----------------------------------------------------------------------------------

/**
 * Sets a new password in the caller's transaction and, when asked, ends the user's sessions (all,
 * or all but `keepSessionId`), each with its event, so open sockets are closed too.
 */
export async function setPassword(
  tx: TransactionSql,
  actor: Actor,
  userId: string,
  password: string,
  revoke: { sessions: boolean; keepSessionId?: string | null; reason: 'password_reset' | 'password_changed' },
): Promise<User> {
  const passwordHash = await hashPassword(password);
  const [row] = await tx<UserRow[]>`
    UPDATE users SET password_hash = ${passwordHash}, version = version + 1, updated_at = now()
    WHERE id = ${userId} RETURNING *`;
  if (!row) throw new AppError('not_found', 'No such user');
  const user = toUserDto(row);
  await recordEvent(tx, actor, {
    action: 'user.password_reset',
    targetType: 'user',
    targetId: user.id,
    targetLabel: user.username,
    data: { user, revoke_sessions: revoke.sessions, by_self: revoke.reason === 'password_changed' },
    version: user.version,
  });
  if (revoke.sessions) await revokeSessions(tx, actor, { userId, exceptSessionId: revoke.keepSessionId }, revoke.reason);
  return user;
}

export async function resetPassword(sql: Sql, actor: Actor, id: string, password: string, revokeSessions: boolean): Promise<User> {
  return sql.begin((tx) => setPassword(tx, actor, id, password, { sessions: revokeSessions, reason: 'password_reset' }));
}

export async function resetPasswordByLogin(sql: Sql, actor: Actor, login: string, password: string): Promise<User> {
  return sql.begin(async (tx) => {
    const [row] = await tx<{ id: string }[]>`SELECT id FROM users WHERE username = ${login} OR email = ${login} FOR UPDATE`;
    if (!row) throw new AppError('not_found', `No user with username or email "${login}"`);
    return setPassword(tx, actor, row.id, password, { sessions: true, reason: 'password_reset' });
  });
}

// ---- Reading everything -------------------------------------------------------------------------

export async function listAllUsers(sql: Sql): Promise<User[]> {
  const rows = await sql<UserRow[]>`SELECT * FROM users ORDER BY username`;
  return rows.map(toUserDto);
}

/** Everything Roster holds about a user (no secrets): profile, sessions, API keys, audit trail. */
export async function exportUser(sql: Sql, id: string) {
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const user = await getUser(tx, id);
    const sessions = await tx`
      SELECT id, created_at, expires_at, last_seen_at, ip, user_agent FROM sessions WHERE user_id = ${id} ORDER BY created_at`;
    const apiKeys = await tx`
      SELECT id, name, prefix, created_at, last_used_at, expires_at FROM api_keys WHERE user_id = ${id} ORDER BY created_at`;
    const events = await tx`
      SELECT id AS seq, at, actor_label, action, target_type, target_id, target_label, data, ip FROM events
      WHERE actor_id = ${id} OR target_id = ${id} OR data->>'user_id' = ${id}
      ORDER BY id DESC LIMIT 10000`;
    return { exported_at: new Date().toISOString(), user, sessions, api_keys: apiKeys, events };
  });
}
