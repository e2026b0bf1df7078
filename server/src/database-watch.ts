import postgres, { type Sql } from 'postgres';
import type { Logger } from './logger.ts';

const PROBE_EVERY_MS = 250;
// A healthy database answers `SELECT 1` in well under a millisecond; one that takes this long is
// frozen, partitioned away or drowning, and requests would wait on it just as long.
const PROBE_TIMEOUT_MS = 750;

/** Thrown by `guard`; its code makes it a `503 unavailable` (http/errors.ts). */
class DatabaseDownError extends Error {
  readonly code = 'DATABASE_DOWN';
  constructor() {
    super('The database did not answer its health check');
  }
}

/**
 * Knows within a second whether PostgreSQL answers, so that requests fail fast instead of waiting
 * on a database that is stopped (connections refused) or frozen (connections accepted by the
 * kernel, never answered). A connection of its own runs `SELECT 1` every 250 ms: a failure or no
 * answer within 750 ms marks the database down, the first answer marks it up again.
 */
export class DatabaseWatch {
  private isUp = true; // the server starts only after the database answered (migrations)
  private probe: Sql | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  // The requests waiting on the database, one reused slot each, holding how to abandon it. Not a
  // Set: V8 keeps a Set's outgrown tables pointing at the entries they held and at the table that
  // replaced them, so a Set that gains and loses an entry per request, once a full collection has
  // moved one of its tables to the old generation, keeps every later request alive through the
  // young-generation collections until the next full one (BENCHMARKS.md, "What the garbage
  // collector kept").
  private waiting: (((error: Error) => void) | undefined)[] = [];
  private freeSlots: number[] = [];

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setTimeout(() => void this.check(), PROBE_EVERY_MS).unref();
  }

  /**
   * Runs `work` while the database is up: rejects at once when it is down, and as soon as it goes
   * down while `work` runs (which goes on unobserved: after a freeze its writes may still commit).
   */
  guard<T>(work: () => Promise<T>): Promise<T> {
    if (!this.isUp) return Promise.reject(new DatabaseDownError());
    // Every request passes here: one promise of its own, settled by the work or by the watch. Its
    // slot holds the promise's own `reject`, and no closure of its own is named: tsx (which the
    // benchmark runs) names each with a property of its own, a cost on every request.
    return new Promise<T>((resolve, reject) => {
      const slot = this.freeSlots.pop() ?? this.waiting.length;
      this.waiting[slot] = reject;
      work().then(
        (value) => {
          this.leave(slot);
          resolve(value);
        },
        (error: unknown) => {
          this.leave(slot);
          reject(error);
        },
      );
    });
  }

  private leave(slot: number) {
    this.waiting[slot] = undefined;
    this.freeSlots.push(slot);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.probe?.end({ timeout: 0 });
  }

  private async check() {
    // Only `SELECT 1`: no array types to read, so none of postgres.js's unhandled type queries (database.ts).
    this.probe ??= postgres(this.url, { max: 1, connect_timeout: 2, fetch_types: false, onnotice: () => undefined, connection: { application_name: 'roster-watch' } });
    const probe = this.probe;
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      probe`SELECT 1`.then(() => true, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, PROBE_TIMEOUT_MS, false))),
    ]);
    clearTimeout(timer);
    if (this.stopped) return;
    if (!answered) {
      // A connection that failed or hangs is replaced, so the next probe does not queue behind it.
      this.probe = null;
      void probe.end({ timeout: 0 }).catch(() => undefined);
    }
    this.set(answered);
    this.timer = setTimeout(() => void this.check(), PROBE_EVERY_MS).unref();
  }

  private set(up: boolean) {
    if (up === this.isUp) return;
    this.isUp = up;
    if (up) {
      this.log.info('database answers again');
      return;
    }
    this.log.warn('database unavailable: requests answer 503 until it answers again');
    // Each request waiting on the database answers 503 now, once: its work may never settle (a
    // frozen server answers nothing), so it must not stay here until it does (only its slot number
    // stays taken until then).
    this.waiting.forEach((reject, slot) => {
      this.waiting[slot] = undefined;
      reject?.(new DatabaseDownError());
    });
  }
}
