import type { Sql, TransactionSql } from 'postgres';
import type { Role, User, UserStatus } from '@roster/shared';
import { hashPassword } from '../auth/passwords.ts';
import { AppError } from '../http/errors.ts';
import { recordEvent, type Actor } from './events.ts';

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  email: string;
  role: Role;
  status: UserStatus;
  password_hash: string;
  can_share_publicly: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
}

export function toUserDto(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    display_name: row.display_name,
    email: row.email,
    role: row.role,
    status: row.status,
    can_share_publicly: row.can_share_publicly,
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
}

/** Inserts a user and its `user.created` event in the caller's transaction. */
export async function insertUser(tx: TransactionSql, actor: Actor, input: NewUser): Promise<User> {
  const passwordHash = await hashPassword(input.password);
  const rows = await tx<UserRow[]>`
    INSERT INTO users (username, display_name, email, role, password_hash)
    VALUES (${input.username}, ${input.display_name}, ${input.email}, ${input.role}, ${passwordHash})
    ON CONFLICT DO NOTHING
    RETURNING *`;
  if (!rows[0]) throw await uniquenessError(tx, input);
  const user = toUserDto(rows[0]);
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

async function uniquenessError(tx: TransactionSql, input: NewUser): Promise<AppError> {
  const [taken] = await tx<{ username: boolean; email: boolean }[]>`
    SELECT bool_or(username = ${input.username}) AS username, bool_or(email = ${input.email}) AS email
    FROM users WHERE username = ${input.username} OR email = ${input.email}`;
  if (taken?.username) return new AppError('username_taken', 'That username is taken', { username: 'Already taken' });
  return new AppError('email_taken', 'That email is already in use', { email: 'Already in use' });
}

/** The user a sign-in names, by username or email (both case-insensitive). */
export async function findUserByLogin(sql: Sql, login: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    SELECT * FROM users WHERE username = ${login} OR email = ${login}
    ORDER BY username = ${login} DESC LIMIT 1`;
  return row;
}

export async function getUser(sql: Sql, id: string): Promise<User> {
  const [row] = await sql<UserRow[]>`SELECT * FROM users WHERE id = ${id}`;
  if (!row) throw new AppError('not_found', 'No such user');
  return toUserDto(row);
}

export async function listAllUsers(sql: Sql): Promise<User[]> {
  const rows = await sql<UserRow[]>`SELECT * FROM users ORDER BY username`;
  return rows.map(toUserDto);
}

/**
 * Sets a new password in the caller's transaction and, when asked, ends every session of the user
 * (each revocation is an event, so their open sockets are closed too).
 */
export async function setPassword(
  tx: TransactionSql,
  actor: Actor,
  userId: string,
  password: string,
  revokeSessions: boolean,
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
    data: { revoke_sessions: revokeSessions },
    version: user.version,
  });
  if (revokeSessions) {
    const ended = await tx<{ id: string }[]>`DELETE FROM sessions WHERE user_id = ${userId} RETURNING id`;
    for (const session of ended) {
      await recordEvent(tx, actor, {
        action: 'session.revoked',
        targetType: 'session',
        targetId: session.id,
        targetLabel: user.username,
        data: { user_id: user.id, reason: 'password_reset' },
      });
    }
  }
  return user;
}

export async function resetPasswordByLogin(sql: Sql, actor: Actor, login: string, password: string): Promise<User> {
  return sql.begin(async (tx) => {
    const [row] = await tx<{ id: string }[]>`SELECT id FROM users WHERE username = ${login} OR email = ${login} FOR UPDATE`;
    if (!row) throw new AppError('not_found', `No user with username or email "${login}"`);
    return setPassword(tx, actor, row.id, password, true);
  });
}
