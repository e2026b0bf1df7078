import type { Sql } from 'postgres';
import { MAX_REPLAY } from '@roster/shared';
import { sessionOver, sessionPolicy, type SessionPolicy } from '../auth/sessions.ts';
import type { Config } from '../config.ts';

// Any constant shared by every Roster process: the key of the advisory lock that lets one node at a time prune.
export const RETENTION_LOCK_KEY = 7_264_004;
// Rows per DELETE: each batch is its own short transaction, so no lock is held for long and no
// single transaction grows with the backlog.
const BATCH = 5000;

export interface RetentionPolicy {
  /** Events older than this are removed, except the newest MAX_REPLAY. */
  auditDays: number;
  /** Sessions that are over (the same rule requests apply) are removed. */
  sessions: SessionPolicy;
  /** Counted attempts older than the longest throttle window no longer count. */
  throttleWindowMs: number;
}

export interface Pruned {
  events: number;
  sessions: number;
  rateLimitHits: number;
}

// The longest window any throttle counts in besides sign-in's (email changes: an hour).
const LONGEST_OTHER_THROTTLE_MS = 60 * 60_000;

export function retentionPolicy(config: Config): RetentionPolicy {
  return {
    auditDays: config.AUDIT_RETENTION_DAYS,
    sessions: sessionPolicy(config),
    throttleWindowMs: Math.max(config.LOGIN_WINDOW_MINUTES * 60_000, LONGEST_OTHER_THROTTLE_MS),
  };
}

/**
 * Removes audit events past the retention, sessions that are over and stale throttle counts, in bounded
 * batches. Returns null, doing nothing, when another process is already at it. `signal` stops it
 * between batches (shutdown).
 */
export async function applyRetention(sql: Sql, policy: RetentionPolicy, signal?: AbortSignal): Promise<Pruned | null> {
  // A session-level lock on one connection: held across the batches' separate transactions.
  const connection = await sql.reserve();
  try {
    const [lock] = await connection<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${RETENTION_LOCK_KEY}) AS locked`;
    if (!lock!.locked) return null;
    try {
      const boundary = await auditBoundary(connection, policy.auditDays);
      return {
        events: boundary === null ? 0 : await inBatches(signal, async () => {
          const [batch] = await connection<{ removed: number }[]>`
            WITH removed AS (
              DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < ${boundary} ORDER BY id LIMIT ${BATCH})
              RETURNING id
            ), marked AS (
              UPDATE events_pruned SET through = greatest(through, (SELECT max(id) FROM removed))
            )
            SELECT count(*)::int AS removed FROM removed`;
          return batch!.removed;
        }),
        sessions: await inBatches(signal, async () => {
          const { count } = await connection`
            DELETE FROM sessions WHERE id IN (SELECT s.id FROM sessions s WHERE ${sessionOver(connection, policy.sessions)} LIMIT ${BATCH})`;
          return count;
        }),
        rateLimitHits: await inBatches(signal, async () => {
          const { count } = await connection`
            DELETE FROM rate_limit_hits WHERE id IN (
              SELECT id FROM rate_limit_hits WHERE at <= now() - ${policy.throttleWindowMs} * interval '1 millisecond' LIMIT ${BATCH})`;
          return count;
        }),
      };
    } finally {
      await connection`SELECT pg_advisory_unlock(${RETENTION_LOCK_KEY})`;
    }
  } finally {
    connection.release();
  }
}

/**
 * Events numbered below the returned id may go. Removal stops at the first event still inside the
 * retention, not just at old ones, so what remains is always every event after some sequence
 * number: that is what lets a resume tell whether it missed anything (`isResumable`). It also stops
 * before the newest MAX_REPLAY events, which reconnecting clients replay from, whatever their age.
 */
async function auditBoundary(sql: Sql, days: number): Promise<number | null> {
  const [replayStart] = await sql<{ id: string }[]>`
    SELECT id FROM events ORDER BY id DESC OFFSET ${MAX_REPLAY - 1} LIMIT 1`;
  if (!replayStart) return null;
  const [firstKept] = await sql<{ id: string }[]>`
    SELECT id FROM events WHERE id < ${replayStart.id} AND at >= now() - ${days} * interval '1 day' ORDER BY id LIMIT 1`;
  return Number(firstKept?.id ?? replayStart.id);
}

async function inBatches(signal: AbortSignal | undefined, removeBatch: () => Promise<number>): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const removed = await removeBatch();
    total += removed;
    if (removed < BATCH) break;
  }
  return total;
}
