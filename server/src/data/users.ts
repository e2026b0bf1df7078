import type { Sql, TransactionSql } from 'postgres';
import type { Role, User, UserStatus } from '@roster/shared';
import { escapeLike } from './cursor.ts';

// Reads of the users table that several services share.

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  email: string;
  role: Role;
  status: UserStatus;
  password_hash: string;
  /** Set by an admin-chosen or generated password: the next sign-in must choose a new one. */
  password_change_required: boolean;
  can_share_publicly: boolean;
  /** bigint arrives as text. */
  token_budget: string | null;
  minute_budget: number | null;
  version: number;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
  /** When two-factor sign-in was turned on; null while off. */
  two_factor_enabled_at: Date | null;
  /** When a staff member's grace period for setting it up ends (REQUIRE_2FA_FOR_STAFF); null until it starts. */
  two_factor_due_at: Date | null;
}

export function toUserDto(row: Omit<UserRow, 'password_hash'>): User {
  return {
    id: row.id,
    username: row.username,
    display_name: row.display_name,
    email: row.email,
    role: row.role,
    status: row.status,
    password_change_required: row.password_change_required,
    can_share_publicly: row.can_share_publicly,
    two_factor_enabled: row.two_factor_enabled_at !== null,
    token_budget: row.token_budget === null ? null : Number(row.token_budget),
    minute_budget: row.minute_budget,
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_login_at: row.last_login_at?.toISOString() ?? null,
  };
}

/** The user a sign-in names, by username or email (both case-insensitive). */
export async function findUserByLogin(sql: Sql | TransactionSql, login: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    SELECT * FROM users WHERE username = ${login} OR email = ${login}
    ORDER BY username = ${login} DESC LIMIT 1`;
  return row;
}

/**
 * The key failed sign-ins are counted under: the login lower-cased the way the database compares
 * it (citext), not the way JavaScript does. They differ: 'İ' is 'i' to PostgreSQL and 'i̇' to
 * JavaScript, so a key from `toLowerCase()` gave every spelling that names one account a limit of
 * its own.
 */
export async function loginKey(sql: Sql | TransactionSql, login: string): Promise<string> {
  const [row] = await sql<{ key: string }[]>`SELECT lower(${login}::text) AS key`;
  return row!.key;
}

/**
 * Users whose username, display name or email contains `text` (any case): the expression the
 * trigram index `users_search_trgm_idx` is built on, so the search uses it.
 */
export function userMatches(sql: Sql | TransactionSql, text: string) {
  return sql`lower(username::text || ' ' || display_name || ' ' || email::text) LIKE ${`%${escapeLike(text.toLowerCase())}%`}`;
}
