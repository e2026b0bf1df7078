import type { Sql, TransactionSql } from 'postgres';
import { meterUsage, USAGE_MAX_AHEAD_MS, type Meter, type MeterUsage, type ReportUsageRequest, type UserUsage } from '@roster/shared';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { AppError } from '../errors.ts';
import { recordEvent } from './events.ts';

export type Clock = () => Date;
export type Prices = Record<string, number>;

/**
 * The configured unit price of a source (a report without one is priced under ""). Own entries
 * only: a source named `constructor` or `__proto__` read Object.prototype, and its cost became NaN.
 */
export function priceOf(prices: Prices, source: string | null): number {
  const key = source ?? '';
  return Object.hasOwn(prices, key) ? prices[key]! : 0;
}

/** The UTC calendar month containing `now`: budgets reset at its start, computed, with no job to run. */
export function monthOf(now: Date): { start: Date; end: Date; label: string } {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { start, end, label: start.toISOString().slice(0, 7) };
}

interface BudgetRow {
  token_budget: string | null;
  minute_budget: number | null;
}

function budgetOf(row: BudgetRow, meter: Meter): number | null {
  const value = meter === 'tokens' ? row.token_budget : row.minute_budget;
  return value === null ? null : Number(value);
}

async function usedThisMonth(sql: Sql | TransactionSql, userId: string, now: Date): Promise<Record<Meter, number>> {
  const { start, end } = monthOf(now);
  const rows = await sql<{ meter: Meter; used: string }[]>`
    SELECT meter, sum(amount) AS used FROM usage_events
    WHERE user_id = ${userId} AND at >= ${start} AND at < ${end}
    GROUP BY meter`;
  const used = { tokens: 0, minutes: 0 };
  for (const row of rows) used[row.meter] = Number(row.used);
  return used;
}

export async function userUsage(sql: Sql, userId: string, now: Date, prices: Prices): Promise<UserUsage> {
  const [user] = await sql<BudgetRow[]>`SELECT token_budget, minute_budget FROM users WHERE id = ${userId}`;
  if (!user) throw new AppError('not_found', 'No such user');
  const { start, end, label } = monthOf(now);
  const used = await usedThisMonth(sql, userId, now);
  const bySource = await sql<{ source: string | null; meter: Meter; amount: string }[]>`
    SELECT source, meter, sum(amount) AS amount FROM usage_events
    WHERE user_id = ${userId} AND at >= ${start} AND at < ${end}
    GROUP BY source, meter ORDER BY source NULLS LAST, meter`;
  const costs = bySource.map((r) => ({
    source: r.source,
    meter: r.meter,
    amount: Number(r.amount),
    usd: Number(r.amount) * priceOf(prices, r.source),
  }));
  return {
    user_id: userId,
    month: label,
    meters: {
      tokens: meterUsage(used.tokens, budgetOf(user, 'tokens')),
      minutes: meterUsage(used.minutes, budgetOf(user, 'minutes')),
    },
    cost: { total_usd: costs.reduce((sum, c) => sum + c.usd, 0), by_source: costs },
  };
}

/**
 * Records usage reported by a host application. A retried report with the same idempotency key is
 * not counted again. Reports are recorded even when the user is over budget: the budget gates
 * spending through the check, it does not lose facts. The date's upper bound is checked here,
 * against the clock the month is computed with, not in the schema.
 */
export async function reportUsage(
  sql: Sql,
  actor: Actor,
  request: ReportUsageRequest,
  now: Date,
): Promise<{ recorded: boolean; usage: MeterUsage }> {
  const at = request.at ? new Date(request.at) : now;
  if (at.getTime() > now.getTime() + USAGE_MAX_AHEAD_MS) {
    throw new AppError('validation_failed', 'Some fields are invalid', { at: 'at must not be more than a day in the future' });
  }
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { read: [request.user_id] });
    const user = users.get(request.user_id);
    if (!user) throw new AppError('not_found', 'No such user');
    const inserted = await tx`
      INSERT INTO usage_events (user_id, meter, amount, source, at, idempotency_key)
      VALUES (${request.user_id}, ${request.meter}, ${request.amount}, ${request.source ?? null},
              ${at}, ${request.idempotency_key ?? null})
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id`;
    const used = await usedThisMonth(tx, request.user_id, now);
    const usage = meterUsage(used[request.meter], budgetOf(user, request.meter));
    if (inserted.length === 0) return { recorded: false, usage };
    recordEvent(tx, actor, {
      action: 'usage.recorded',
      targetType: 'user',
      targetId: request.user_id,
      targetLabel: user.username,
      data: { user_id: request.user_id, meter: request.meter, amount: request.amount, source: request.source ?? null, usage },
    });
    return { recorded: true, usage };
  });
}

/** May the user spend `amount` more of `meter` this month? */
export async function checkUsage(sql: Sql, userId: string, meter: Meter, amount: number, now: Date) {
  const [user] = await sql<BudgetRow[]>`SELECT token_budget, minute_budget FROM users WHERE id = ${userId}`;
  if (!user) throw new AppError('not_found', 'No such user');
  const used = (await usedThisMonth(sql, userId, now))[meter];
  const budget = budgetOf(user, meter);
  const { state } = meterUsage(used, budget);
  return {
    allowed: state !== 'blocked' && (budget === null || used + amount <= budget),
    state,
    used,
    budget,
    remaining: budget === null ? null : Math.max(0, budget - used),
  };
}
