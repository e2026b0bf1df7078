import type { Sql } from 'postgres';
import type { Logger } from '../logger.ts';
import { applyRetention, type RetentionPolicy } from '../services/retention.ts';

// Every node runs the job; its advisory lock lets one at a time do the work, so a node that stops
// leaves the job to the others.
const FIRST_RUN_MS = 60_000;
const EVERY_MS = 60 * 60_000;

export interface Housekeeping {
  /** Cancels the next run and ends the current one after its batch in progress. */
  stop(): Promise<void>;
}

/** Applies the retention policy shortly after start, then every hour after the previous run ends. */
export function startHousekeeping(options: {
  sql: Sql;
  log: Logger;
  policy: RetentionPolicy;
  firstRunMs?: number;
  everyMs?: number;
}): Housekeeping {
  const { sql, log, policy } = options;
  const stopping = new AbortController();
  let current: Promise<void> | null = null;
  let timer = schedule(options.firstRunMs ?? FIRST_RUN_MS);

  function schedule(delayMs: number) {
    return setTimeout(() => {
      current = prune().finally(() => {
        current = null;
        if (!stopping.signal.aborted) timer = schedule(options.everyMs ?? EVERY_MS);
      });
    }, delayMs).unref();
  }

  async function prune() {
    try {
      const removed = await applyRetention(sql, policy, stopping.signal);
      if (!removed) log.debug('audit retention: another node is running it');
      else if (removed.events + removed.sessions + removed.rateLimitHits > 0) {
        log.info({ removed, audit_days: policy.auditDays }, 'audit retention removed old rows');
      } else log.debug('audit retention: nothing to remove');
    } catch (error) {
      log.warn({ err: error }, 'audit retention failed; trying again at the next run');
    }
  }

  return {
    stop: async () => {
      stopping.abort();
      clearTimeout(timer);
      await current;
    },
  };
}
