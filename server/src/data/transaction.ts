import postgres, { type Sql, type TransactionSql } from 'postgres';

// Every writing transaction runs through `transaction()`: it retries the transaction when
// PostgreSQL aborts it for a deadlock or a serialization failure (the locks are taken in one order,
// see locks.ts, so that is rare, but it must never reach a user as a 500), and it runs the work
// registered with `beforeCommit` last, after the transaction's own statements (events, see
// services/events.ts).

const RETRYABLE = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure
const MAX_ATTEMPTS = 5;

const finalSteps = new WeakMap<TransactionSql, (() => Promise<void>)[]>();
const committedSteps = new WeakMap<TransactionSql, (() => void)[]>();

export type TransactionOptions = { isolation?: 'REPEATABLE READ' | 'SERIALIZABLE' };

export async function transaction<T>(sql: Sql, fn: (tx: TransactionSql) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const mode = options.isolation ? `ISOLATION LEVEL ${options.isolation}` : '';
  for (let attempt = 1; ; attempt++) {
    // Only the attempt that commits runs its `afterCommit` steps.
    let committed: (() => void)[] = [];
    try {
      const result = (await sql.begin(mode, async (tx) => {
        finalSteps.set(tx, []);
        committed = [];
        committedSteps.set(tx, committed);
        const result = await fn(tx);
        // A final step may register another one (none does today); run until none is left.
        for (let step = finalSteps.get(tx)!.shift(); step; step = finalSteps.get(tx)!.shift()) await step();
        return result;
      })) as T;
      for (const step of committed) step();
      return result;
    } catch (error) {
      if (!isRetryable(error) || attempt === MAX_ATTEMPTS) throw error;
      // Jittered, growing pause so the transactions that collided do not collide again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}

/** Runs `step` inside `tx`, after the transaction's own work and just before it commits. */
export function beforeCommit(tx: TransactionSql, step: () => Promise<void>): void {
  const steps = finalSteps.get(tx);
  if (!steps) throw new Error('beforeCommit needs a transaction opened with transaction()');
  steps.push(step);
}

/**
 * Runs `step` once `tx` has committed, and never when it rolls back: for what must not happen for
 * a change that did not (a mail). The step is not awaited, and must handle its own failures.
 */
export function afterCommit(tx: TransactionSql, step: () => void): void {
  const steps = committedSteps.get(tx);
  if (!steps) throw new Error('afterCommit needs a transaction opened with transaction()');
  steps.push(step);
}

export function isRetryable(error: unknown): boolean {
  return error instanceof postgres.PostgresError && RETRYABLE.has(error.code);
}
