import type { Sql } from 'postgres';
import { roles, userStatuses, type Overview } from '@roster/shared';
import { monthOf, priceOf, type Prices } from './usage.ts';

const DAY_MS = 24 * 3600 * 1000;

/** The statistics page's data in one read-only snapshot. */
export async function overview(sql: Sql, now: Date, prices: Prices): Promise<Overview> {
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const firstDay = new Date(today.getTime() - 29 * DAY_MS);
  const month = monthOf(now);
  const firstMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const roleRows = await tx<{ key: string; n: number }[]>`SELECT role AS key, count(*)::int AS n FROM users GROUP BY role`;
    const statusRows = await tx<{ key: string; n: number }[]>`SELECT status AS key, count(*)::int AS n FROM users GROUP BY status`;
    // Sign-ins come from the audit log; sessions active at each day's end from the sessions still
    // held (ended sessions leave no row, so earlier days count only sessions that are still open).
    const days = await tx<{ day: string; sign_ins: number; active_sessions: number }[]>`
      SELECT to_char(d, 'YYYY-MM-DD') AS day,
             (SELECT count(*)::int FROM events e WHERE e.action = 'session.created' AND e.at >= d AND e.at < d + interval '1 day') AS sign_ins,
             (SELECT count(*)::int FROM sessions s WHERE s.created_at < d + interval '1 day' AND s.expires_at >= d + interval '1 day') AS active_sessions
      FROM generate_series(${firstDay}::timestamptz, ${today}::timestamptz, interval '1 day') d
      ORDER BY d`;
    const usage = await tx<{ month: string; tokens: string; minutes: string }[]>`
      SELECT to_char(m, 'YYYY-MM') AS month,
             coalesce(sum(e.amount) FILTER (WHERE e.meter = 'tokens'), 0) AS tokens,
             coalesce(sum(e.amount) FILTER (WHERE e.meter = 'minutes'), 0) AS minutes
      FROM generate_series(${firstMonth}::timestamptz, ${month.start}::timestamptz, interval '1 month') m
      LEFT JOIN usage_events e ON e.at >= m AND e.at < m + interval '1 month'
      GROUP BY m ORDER BY m`;
    const consumers = await tx<{ user_id: string; username: string; display_name: string; source: string | null; tokens: string; minutes: string }[]>`
      SELECT u.id AS user_id, u.username, u.display_name, e.source,
             coalesce(sum(e.amount) FILTER (WHERE e.meter = 'tokens'), 0) AS tokens,
             coalesce(sum(e.amount) FILTER (WHERE e.meter = 'minutes'), 0) AS minutes
      FROM usage_events e JOIN users u ON u.id = e.user_id
      WHERE e.at >= ${month.start} AND e.at < ${month.end}
      GROUP BY u.id, e.source`;
    const storage = await tx<{ user_id: string; username: string; display_name: string; size_bytes: string; projects: number }[]>`
      SELECT u.id AS user_id, u.username, u.display_name, sum(p.size_bytes) AS size_bytes, count(*)::int AS projects
      FROM projects p JOIN users u ON u.id = p.owner_id
      GROUP BY u.id ORDER BY sum(p.size_bytes) DESC LIMIT 10`;

    const byUser = new Map<string, Overview['top_consumers'][number]>();
    for (const row of consumers) {
      const entry = byUser.get(row.user_id) ?? { user_id: row.user_id, username: row.username, display_name: row.display_name, tokens: 0, minutes: 0, usd: 0 };
      const price = priceOf(prices, row.source);
      entry.tokens += Number(row.tokens);
      entry.minutes += Number(row.minutes);
      entry.usd += (Number(row.tokens) + Number(row.minutes)) * price;
      byUser.set(row.user_id, entry);
    }
    return {
      users_by_role: countsFor(roles, roleRows),
      users_by_status: countsFor(userStatuses, statusRows),
      days: [...days],
      usage_by_month: usage.map((r) => ({ month: r.month, tokens: Number(r.tokens), minutes: Number(r.minutes) })),
      top_consumers: [...byUser.values()].sort((a, b) => b.tokens + b.minutes * 1000 - (a.tokens + a.minutes * 1000)).slice(0, 10),
      storage: storage.map((r) => ({ ...r, size_bytes: Number(r.size_bytes) })),
    };
  });
}

/** One count per key, zero for keys no row has, so charts keep their categories and colours. */
function countsFor<K extends string>(keys: readonly K[], rows: readonly { key: string; n: number }[]): Record<K, number> {
  const counts = new Map(rows.map((r) => [r.key, r.n]));
  return Object.fromEntries(keys.map((key) => [key, counts.get(key) ?? 0])) as Record<K, number>;
}
