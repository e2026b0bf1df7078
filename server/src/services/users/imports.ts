import type { Sql, TransactionSql } from 'postgres';
import {
  countOutcomes,
  duplicateRows,
  importRowSchema,
  type ImportRequest,
  type ImportResult,
  type ImportRow,
  type ImportRowResult,
} from '@roster/shared';
import { passwordProblem } from '../../auth/password-policy.ts';
import { hashPassword } from '../../auth/passwords.ts';
import { lockForWrite, type Actor } from '../../data/locks.ts';
import { transaction } from '../../data/transaction.ts';
import { toUserDto, type UserRow } from '../../data/users.ts';
import { AppError } from '../../errors.ts';
import type { MailDeps } from '../../mail/links.ts';
import { recordEvent } from '../events.ts';
import { ADMIN_GUARD_LOCK, applyUserChanges, type UserChanges } from './changes.ts';

// CSV import (docs/csv.md): the console parses the file and sends the mapped rows a chunk at a
// time; each chunk is one transaction, and every row gets a result. A dry run answers the same
// results from the same checks, writing nothing (the preview).

/**
 * The password hash of a user imported without a password: no password verifies against it (it is
 * not an argon2 hash), so the account cannot sign in until an admin sets a password.
 */
export const NO_PASSWORD = '!';

/** Passwords an import hashes at once (of libuv's four threads). */
const IMPORT_HASHES_AT_ONCE = 2;

/** Errors of the update guards that leave the transaction usable: the row fails, the chunk goes on. */
const ROW_REFUSALS = new Set(['last_admin', 'self_action']);

/** A chunk's rows, checked on their own: those to apply, and those that failed already. */
interface Chunk {
  request: ImportRequest;
  valid: { index: number; row: ImportRow }[];
  invalid: ImportRowResult[];
  passwordMinLength: number;
  /** Tells owners of a changed address (ASVS 6.3.7). */
  mail?: MailDeps;
}

type Checked = { index: number; row: ImportRow } | { index: number; errors: Record<string, string> };

/** The rules every row must meet on its own and within the chunk (no repeated username or email). */
function checkRows(request: ImportRequest): Checked[] {
  const duplicates = duplicateRows(request.rows);
  return request.rows.map((cells, index) => {
    const parsed = importRowSchema.safeParse(cells);
    const errors: Record<string, string> = { ...duplicates.get(index) };
    if (!parsed.success) for (const issue of parsed.error.issues) errors[String(issue.path[0] ?? '_')] ??= issue.message;
    return parsed.success && Object.keys(errors).length === 0 ? { index, row: parsed.data } : { index, errors };
  });
}

export async function importUsers(sql: Sql, actor: Actor, request: ImportRequest, passwordMinLength: number, mail?: MailDeps): Promise<ImportResult> {
  const checked = checkRows(request);
  const valid = checked.filter((c) => 'row' in c);
  const invalid = checked.filter((c) => 'errors' in c).map((c) => ({ index: c.index, outcome: 'failed' as const, errors: c.errors }));
  const chunk = { request, valid, invalid, passwordMinLength, mail };
  const results = await (request.dry_run
    ? (sql.begin('READ ONLY', (tx) => importChunk(tx, actor, chunk, null)) as Promise<ImportRowResult[]>)
    : hashedThenImported(sql, actor, chunk));
  const all = [...results, ...invalid].sort((a, b) => a.index - b.index);
  return { dry_run: request.dry_run, counts: countOutcomes(all), results: all };
}

/**
 * Hashing takes tens of milliseconds a password: the passwords of rows that look new are hashed
 * before the transaction (in parallel, on libuv's threads), so no lock waits for them.
 */
async function hashedThenImported(sql: Sql, actor: Actor, chunk: Chunk): Promise<ImportRowResult[]> {
  const { valid, passwordMinLength } = chunk;
  const withPassword = valid.filter(({ row }) => row.password !== undefined && !passwordProblem(row.password, passwordMinLength, row));
  const existing = new Set<string>();
  if (withPassword.length > 0) {
    const rows = await sql<{ username: string }[]>`
      SELECT username FROM users WHERE username = ANY(${withPassword.map(({ row }) => row.username)}::citext[])`;
    for (const { username } of rows) existing.add(username.toLowerCase());
  }
  const hashes = new Map<number, string>();
  const pending = withPassword.filter(({ row }) => !existing.has(row.username));
  // A few at a time: the hashes share libuv's four threads with sign-ins, which must not queue
  // behind a whole chunk of them.
  const hashNext = async (): Promise<void> => {
    for (let next = pending.shift(); next; next = pending.shift()) hashes.set(next.index, await hashPassword(next.row.password!));
  };
  await Promise.all(Array.from({ length: IMPORT_HASHES_AT_ONCE }, hashNext));
  const hashOf = async (index: number, password: string) => hashes.get(index) ?? hashPassword(password);
  return transaction(sql, (tx) => importChunk(tx, actor, chunk, hashOf));
}

/**
 * Decides and (unless `hashOf` is null: the dry run) applies each valid row in `tx`: an existing
 * username is skipped or updated (the fields given; never the password), a new one created.
 */
async function importChunk(
  tx: TransactionSql,
  actor: Actor,
  { request, valid, invalid, passwordMinLength, mail }: Chunk,
  hashOf: ((index: number, password: string) => Promise<string>) | null,
): Promise<ImportRowResult[]> {
  const write = hashOf !== null;
  const results: ImportRowResult[] = [];
  if (valid.length === 0 && !write) return results;
  const found = await tx<UserRow[]>`
    SELECT * FROM users
    WHERE username = ANY(${valid.map(({ row }) => row.username)}::citext[])
       OR email = ANY(${valid.map(({ row }) => row.email)}::citext[])`;
  const byUsername = new Map(found.map((u) => [u.username.toLowerCase(), u]));
  // email (lower case) → the id of the user who has it, kept current as rows are planned.
  const emailOwner = new Map(found.map((u) => [u.email.toLowerCase(), u.id]));

  let current = byUsername;
  if (write) {
    const toChange = request.mode === 'update' ? valid.flatMap(({ row }) => byUsername.get(row.username)?.id ?? []) : [];
    // Step 1 of the lock order (data/locks.ts): an update may demote or deactivate an admin.
    if (toChange.length > 0) await tx`SELECT pg_advisory_xact_lock(${ADMIN_GUARD_LOCK})`;
    const { users } = await lockForWrite(tx, actor, { change: toChange });
    current = new Map([...users.values()].map((u) => [u.username.toLowerCase(), u]));
  }

  const creates: { index: number; row: ImportRow }[] = [];
  for (const { index, row } of valid) {
    const fail = (errors: Record<string, string>) => results.push({ index, outcome: 'failed', errors });
    const existing = byUsername.get(row.username);
    if (!existing) {
      const problem = row.password === undefined ? null : passwordProblem(row.password, passwordMinLength, row);
      if (problem) fail({ password: problem });
      else if (emailOwner.has(row.email.toLowerCase())) fail({ email: 'Already in use by another user' });
      else {
        emailOwner.set(row.email.toLowerCase(), 'new');
        creates.push({ index, row });
      }
      continue;
    }
    if (request.mode === 'skip') {
      results.push({ index, outcome: 'skipped', user_id: existing.id });
      continue;
    }
    const locked = write ? current.get(row.username) : existing;
    if (!locked) {
      fail({ _: 'The user was renamed or deleted while importing; check the row again' });
      continue;
    }
    if (locked.id === actor.id) {
      fail({ _: 'Your own account is not changed by an import; edit it on its own' });
      continue;
    }
    const owner = emailOwner.get(row.email.toLowerCase());
    if (owner !== undefined && owner !== locked.id) {
      fail({ email: 'Already in use by another user' });
      continue;
    }
    const changes = changesFor(locked, row);
    if (Object.keys(changes).length === 0) {
      results.push({ index, outcome: 'unchanged', user_id: locked.id });
      continue;
    }
    if (write) {
      try {
        await applyUserChanges(tx, actor, locked, changes, mail);
      } catch (error) {
        if (!(error instanceof AppError && ROW_REFUSALS.has(error.code))) throw error;
        fail({ _: error.message });
        continue;
      }
    }
    emailOwner.delete(locked.email.toLowerCase());
    emailOwner.set(row.email.toLowerCase(), locked.id);
    results.push({ index, outcome: 'updated', user_id: locked.id });
  }

  if (!write) {
    results.push(...creates.map(({ index }) => ({ index, outcome: 'created' as const })));
    return results;
  }
  results.push(...(await insertUsers(tx, actor, creates, hashOf)));
  recordEvent(tx, actor, {
    action: 'users.imported',
    targetType: 'user',
    targetId: null,
    targetLabel: null,
    data: { mode: request.mode, counts: countOutcomes([...results, ...invalid]), rows: request.rows.length },
  });
  return results;
}

/** The fields a row gives that differ from the user's (blank cells change nothing). */
function changesFor(user: UserRow, row: ImportRow): UserChanges {
  // The address compares as the column does (citext): a file whose addresses changed case changes nothing.
  const email = row.email !== undefined && row.email.toLowerCase() !== user.email.toLowerCase() ? row.email : undefined;
  const given: UserChanges = { email, display_name: row.display_name, role: row.role, status: row.status };
  return Object.fromEntries(
    Object.entries(given).filter(([field, value]) => value !== undefined && user[field as keyof UserRow] !== value),
  ) as UserChanges;
}

/**
 * One INSERT for the chunk's new users. A username or email taken since the rows were planned (a
 * concurrent create) is not an error for the chunk: that row fails, the others are created.
 */
async function insertUsers(
  tx: TransactionSql,
  actor: Actor,
  creates: { index: number; row: ImportRow }[],
  hashOf: (index: number, password: string) => Promise<string>,
): Promise<ImportRowResult[]> {
  if (creates.length === 0) return [];
  const values = await Promise.all(
    creates.map(async ({ index, row }) => ({
      username: row.username,
      display_name: row.display_name ?? row.username,
      email: row.email,
      role: row.role ?? 'user',
      status: row.status ?? 'active',
      password_hash: row.password === undefined ? NO_PASSWORD : await hashOf(index, row.password),
      // As with any password an admin chooses, the first sign-in replaces it.
      password_change_required: true,
    })),
  );
  const inserted = await tx<UserRow[]>`INSERT INTO users ${tx(values)} ON CONFLICT DO NOTHING RETURNING *`;
  const byUsername = new Map(inserted.map((u) => [u.username.toLowerCase(), u]));
  return creates.map(({ index, row }) => {
    const created = byUsername.get(row.username);
    if (!created) return { index, outcome: 'failed', errors: { _: 'A user with this username or email was created meanwhile' } };
    const user = toUserDto(created);
    recordEvent(tx, actor, { action: 'user.created', targetType: 'user', targetId: user.id, targetLabel: user.username, data: { user }, version: user.version });
    return { index, outcome: 'created', user_id: user.id };
  });
}
