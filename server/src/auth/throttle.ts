import type { Sql } from 'postgres';
import { transaction } from '../data/transaction.ts';

// Attempts at guessing secrets (passwords at sign-in and re-authentication, second-factor codes,
// registrations, email changes) are counted in PostgreSQL, not in process memory, so the limits hold across nodes. An
// attempt is counted before the secret is checked, atomically per key: however many arrive at
// once, no more than the limit are ever checked.

export type ThrottleScope = 'login' | 'ip' | 'device' | 'reauth' | 'register' | 'email_change' | 'second_factor' | 'reset_address' | 'reset_ip';

export interface ThrottleKey {
  scope: ThrottleScope;
  key: string;
  /** Attempts allowed within the window. */
  max: number;
}

export type Attempt = { counted: true; hitIds: string[] } | { counted: false; retryAfterSeconds: number };

/**
 * Counts one attempt against every key, or none when any key is already at its limit (then says
 * how long to wait). The keys' advisory locks serialise concurrent attempts on the same key.
 */
export async function countAttempt(sql: Sql, keys: ThrottleKey[], windowMs: number): Promise<Attempt> {
  const sorted = [...keys].sort((a, b) => `${a.scope}:${a.key}`.localeCompare(`${b.scope}:${b.key}`));
  return transaction(sql, async (tx) => {
    let waitMs = 0;
    for (const { scope, key, max } of sorted) {
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`throttle:${scope}:${key}`}, 0))`;
      // At the limit while `max` hits lie inside the window; free again when the max-th newest leaves it.
      const [row] = await tx<{ wait_ms: number }[]>`
        SELECT extract(epoch FROM at + ${windowMs} * interval '1 millisecond' - now()) * 1000 AS wait_ms
        FROM rate_limit_hits
        WHERE scope = ${scope} AND key = ${key} AND at > now() - ${windowMs} * interval '1 millisecond'
        ORDER BY at DESC OFFSET ${max - 1} LIMIT 1`;
      if (row) waitMs = Math.max(waitMs, Number(row.wait_ms));
    }
    if (waitMs > 0) return { counted: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    for (const { scope, key } of sorted) {
      await tx`
        DELETE FROM rate_limit_hits
        WHERE scope = ${scope} AND key = ${key} AND at <= now() - ${windowMs} * interval '1 millisecond'`;
    }
    const rows = await tx<{ id: string }[]>`
      INSERT INTO rate_limit_hits ${tx(sorted.map(({ scope, key }) => ({ scope, key })))} RETURNING id`;
    return { counted: true, hitIds: rows.map((r) => r.id) };
  });
}

/**
 * After the secret proved right: this attempt stops counting against any key (only failures do),
 * and the earlier failures of `forgive` (the account's, the device's) are forgiven.
 */
export async function attemptSucceeded(sql: Sql, attempt: Attempt, forgive: Pick<ThrottleKey, 'scope' | 'key'>[] = []): Promise<void> {
  if (attempt.counted) await sql`DELETE FROM rate_limit_hits WHERE id = ANY(${attempt.hitIds}::bigint[])`;
  for (const { scope, key } of forgive) await sql`DELETE FROM rate_limit_hits WHERE scope = ${scope} AND key = ${key}`;
}
