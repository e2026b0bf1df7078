import postgres, { type Sql, type TransactionSql } from 'postgres';
import { meterUsage, type User, type UserList, type UserListQuery, type UserStats } from '@roster/shared';
import type { ApiKeyRow } from '../../auth/api-keys.ts';
import type { SessionRow } from '../../auth/sessions.ts';
import { toUserDto, userMatches, type UserRow } from '../../data/users.ts';
import { AppError } from '../../errors.ts';
import { readWithSeq, type EventRow } from '../events.ts';
import { monthOf } from '../usage.ts';
import { decodeCursor, encodeCursor } from '../../data/cursor.ts';

// Reading users: one, a filtered page of the table, the statistics, everything about one.

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

/** Filtered, searched, sorted users with keyset paging: `(sort key, id)` after the cursor's. */
export async function listUsers(sql: Sql, query: UserListQuery, now: Date): Promise<UserList> {
  // Plan the search for its actual values: its selectivity ranges from one row to the whole table,
  // and a generic plan for `LIKE $1` walks the sort index instead of using the trigram index (30 ms
  // instead of 1 ms at 100,000 users, see BENCHMARKS.md). Only here: every other statement keeps
  // its cached plan (the session check runs twice as fast with one).
  // The page and its count in one snapshot with the event they are current to (`seq`).
  const { result, seq } = await readWithSeq(sql, async (tx) => {
    await tx`SET LOCAL plan_cache_mode = force_custom_plan`;
    return pageOfUsers(tx, query, now);
  });
  return { ...result, seq };
}

/** The sort of the users table: its key expression and that key's type. */
export function userSort(sql: TransactionSql, sort: UserListQuery['sort']) {
  const descending = sort.startsWith('-');
  const field = descending ? sort.slice(1) : sort;
  // Sort keys travel through the cursor as text (and are bound as text), so timestamps keep their microseconds.
  const sortKey = {
    // Code-point order, whatever the database's collation, as the console places live rows (and
    // as indexed, db/migrations/015_text_sorts_by_code_point.sql).
    username: { expr: sql`(username::text COLLATE "C")`, type: sql`text` },
    email: { expr: sql`(lower(email::text) COLLATE "C")`, type: sql`text` },
    created_at: { expr: sql`created_at`, type: sql`timestamptz` },
    last_login_at: { expr: sql`coalesce(last_login_at, '-infinity')`, type: sql`timestamptz` },
  }[field]!;
  return { descending, sortKey, order: descending ? sql`${sortKey.expr} DESC, id DESC` : sql`${sortKey.expr} ASC, id ASC` };
}

/** The users table's filters, as `AND …` conditions. */
export function userFilters(sql: TransactionSql, query: Pick<UserListQuery, 'q' | 'role' | 'status' | 'id'>) {
  return sql`
    ${query.id ? sql`AND id = ${query.id}` : sql``}
    ${query.q ? sql`AND ${userMatches(sql, query.q)}` : sql``}
    ${query.role ? sql`AND role = ${query.role}` : sql``}
    ${query.status ? sql`AND status = ${query.status}` : sql``}`;
}

async function pageOfUsers(sql: TransactionSql, query: UserListQuery, now: Date): Promise<Omit<UserList, 'seq'>> {
  const month = monthOf(now);
  const { descending, sortKey, order } = userSort(sql, query.sort);
  const filters = userFilters(sql, query);

  let after = sql``;
  if (query.cursor) {
    const [key, id] = decodeCursor(query.cursor, 2) as [string, string];
    after = descending
      ? sql`AND (${sortKey.expr}, id) < (${key}::text::${sortKey.type}, ${id}::text::uuid)`
      : sql`AND (${sortKey.expr}, id) > (${key}::text::${sortKey.type}, ${id}::text::uuid)`;
  }

  const [rows, count] = await Promise.all([
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
    countMatching(sql, filters),
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
    next_cursor: rows.length > query.limit && last ? encodeCursor([last.sort_key, last.id]) : null,
    total: count.total,
    total_is_estimate: count.estimated,
  };
}

// Up to this many matches are counted exactly; beyond, the count would cost more than the page.
const EXACT_COUNT_UP_TO = 10_000;

/**
 * How many users match: exactly up to EXACT_COUNT_UP_TO (a count that stops there), else the
 * planner's estimate, which the list shows as "about …" (counting a million rows for every page
 * took longer than the page itself).
 */
async function countMatching(sql: TransactionSql, filters: ReturnType<TransactionSql['unsafe']>): Promise<{ total: number; estimated: boolean }> {
  const [bounded] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (SELECT 1 FROM users WHERE true ${filters} LIMIT ${EXACT_COUNT_UP_TO + 1}) matches`;
  if (bounded!.n <= EXACT_COUNT_UP_TO) return { total: bounded!.n, estimated: false };
  const [plan] = await sql<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }[]>`EXPLAIN (FORMAT JSON) SELECT 1 FROM users WHERE true ${filters}`;
  return { total: Math.max(EXACT_COUNT_UP_TO + 1, Math.round(plan!['QUERY PLAN'][0].Plan['Plan Rows'])), estimated: true };
}

/** The stats cards' counts, with the newest event they reflect (read in the same snapshot). */
export async function userStats(sql: Sql, online: number): Promise<UserStats> {
  const { result, seq } = await readWithSeq(sql, async (tx) => {
    const [row] = await tx<Omit<UserStats, 'online' | 'seq'>[]>`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE status = 'active')::int AS active,
             count(*) FILTER (WHERE status = 'inactive')::int AS inactive,
             count(*) FILTER (WHERE role = 'admin')::int AS admins,
             count(*) FILTER (WHERE role = 'moderator')::int AS moderators,
             count(*) FILTER (WHERE role = 'user')::int AS users,
             (SELECT count(*)::int FROM sessions WHERE expires_at > now()) AS sessions
      FROM users`;
    return row!;
  });
  return { ...result, online, seq };
}

export async function listAllUsers(sql: Sql): Promise<User[]> {
  const rows = await sql<UserRow[]>`SELECT * FROM users ORDER BY username`;
  return rows.map(toUserDto);
}

/** Everything Roster holds about a user (no secrets): profile, sessions, API keys, audit trail. */
export async function exportUser(sql: Sql, id: string) {
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const user = await getUser(tx, id);
    const sessions = await tx<Pick<SessionRow, 'id' | 'created_at' | 'expires_at' | 'last_seen_at' | 'ip' | 'user_agent' | 'amr'>[]>`
      SELECT id, created_at, expires_at, last_seen_at, ip, user_agent, amr FROM sessions WHERE user_id = ${id} ORDER BY created_at`;
    const apiKeys = await tx<Pick<ApiKeyRow, 'id' | 'name' | 'prefix' | 'created_at' | 'last_used_at' | 'expires_at'>[]>`
      SELECT id, name, prefix, created_at, last_used_at, expires_at FROM api_keys WHERE user_id = ${id} ORDER BY created_at`;
    const events = await tx<(Omit<EventRow, 'id' | 'actor_id' | 'version'> & { seq: string })[]>`
      SELECT id AS seq, at, actor_label, action, target_type, target_id, target_label, data, ip FROM events
      WHERE actor_id = ${id} OR target_id = ${id} OR data->>'user_id' = ${id}
      ORDER BY id DESC LIMIT 10000`;
    return { exported_at: new Date().toISOString(), user, sessions, api_keys: apiKeys, events };
  });
}
