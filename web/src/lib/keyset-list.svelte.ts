import { untrack } from 'svelte';
import type { LiveEvent } from '@roster/shared';
import { EventPosition } from './event-position';
import { live } from './live.svelte';

/** A page of a list read with keyset cursors, as every list route answers. */
export interface KeysetPage<T> {
  items: T[];
  next_cursor: string | null;
  /** The newest live event the page reflects. */
  seq: number;
}

// How long a further page waits for the events it was read after (they are usually milliseconds
// away); past it the list starts over from its first page, which is current.
const CATCH_UP_MS = 3000;

/** Where the page after `page` starts: its last row as loaded, or null when no page follows. */
export function nextPageStart<T>(page: KeysetPage<T>): T | null {
  return page.next_cursor ? (page.items.at(-1) ?? null) : null;
}

/**
 * A list loaded a page at a time with keyset cursors and kept current by live events (the users
 * table, the sessions list). A reload starts over and makes the answers of older loads void, so a
 * slow page of an old search never replaces a newer one; pages and events are ordered by
 * `EventPosition`.
 */
export abstract class KeysetList<T extends { id: string }, P extends KeysetPage<T>> {
  items = $state<T[]>([]);
  loading = $state(false);
  protected cursor: string | null = null;
  /** The last row of the last page loaded, as it was loaded: where the next page starts (null when none remains). */
  protected loadedUpTo: T | null = null;
  /** Counts the starts over (and the close): a read started in an older generation is void. */
  protected generation = 0;
  /** No longer shown (its page was left): it loads nothing more. */
  private closed = false;
  /** A first page is on its way: the events meanwhile are applied to it when it comes. */
  protected startingOver = false;
  protected readonly position = new EventPosition();

  get hasMore() {
    return this.cursor !== null;
  }

  /** The page after `cursor` (the first one for null). */
  protected abstract fetchPage(cursor: string | null): Promise<P>;
  /** The rows of a page that arrived with `events` (newer than the page) applied to them; also takes what else the page tells (counts). */
  protected abstract arrived(page: P, events: LiveEvent[]): T[];
  /** The first page could not be loaded. */
  protected abstract failed(error: unknown): void;

  /** The loaded rows with a further page's rows added (new to them): after them, unless the list sorts them in. */
  protected added(items: T[], rows: T[]): T[] {
    return [...items, ...rows];
  }

  /**
   * The list is no longer shown (its page was left): answers on their way are void, like those of
   * a load started over, and nothing loads again (a row read failing late would start it over).
   */
  close() {
    this.closed = true;
    this.generation += 1;
  }

  /** Loads the first page again (after the filters changed). */
  protected async loadFirst() {
    if (this.closed) return;
    this.cursor = null;
    const generation = ++this.generation;
    this.loading = true;
    this.startingOver = true;
    this.position.loading();
    try {
      // Reloads start from effects: what the request reads (the filters) must not become their dependency.
      const page = await untrack(() => this.fetchPage(null));
      if (generation !== this.generation) return; // a newer load already started
      live.loadedAt(page.seq);
      this.items = this.arrived(page, this.position.arrived(page.seq, { replacesRows: true }));
      this.cursor = page.next_cursor;
      this.loadedUpTo = nextPageStart(page);
    } catch (e) {
      if (generation === this.generation) this.failed(e);
    } finally {
      this.position.settled();
      if (generation === this.generation) this.loading = this.startingOver = false;
    }
  }

  /**
   * Adds the next page to the loaded ones (rows that moved up meanwhile are not shown twice), once
   * the rows loaded before reflect what the page does.
   */
  async loadMore() {
    if (this.loading || !this.cursor) return;
    const cursor = this.cursor;
    await this.readBeside(
      () => this.fetchPage(cursor),
      (page, events) => {
        const known = new Set(this.items.map((item) => item.id));
        this.items = this.added(this.items, this.arrived(page, events).filter((item) => !known.has(item.id)));
        this.cursor = page.next_cursor;
        this.loadedUpTo = nextPageStart(page);
      },
      { showsLoading: true },
    );
  }

  /**
   * Reads a page beside the loaded rows (the next one, or rows that moved among them from beyond)
   * and hands it to `use` with the events to apply to it, once the rows loaded before reflect what
   * it does: a page read ahead of them waits for its events; past CATCH_UP_MS the list starts over.
   * A read that fails after the list started over meanwhile fails for nothing, and resolves; one
   * that fails before rejects, or with `startsOverOnFailure` starts the list over (once, however
   * many reads fail together).
   */
  protected async readBeside(
    fetch: () => Promise<P>,
    use: (page: P, events: LiveEvent[]) => void,
    { showsLoading, startsOverOnFailure = false }: { showsLoading: boolean; startsOverOnFailure?: boolean },
  ) {
    if (this.closed) return;
    const generation = this.generation;
    if (showsLoading) this.loading = true;
    this.position.loading();
    try {
      const page = await untrack(fetch).catch((error: unknown) => {
        if (generation !== this.generation) return null;
        if (!startsOverOnFailure) throw error;
        void this.loadFirst();
        return null;
      });
      if (page === null || generation !== this.generation) return;
      const caughtUp = await this.position.reached(page.seq, CATCH_UP_MS);
      if (generation !== this.generation) return;
      if (!caughtUp) return void this.loadFirst();
      use(page, this.position.arrived(page.seq, { replacesRows: false }));
    } finally {
      this.position.settled();
      if (showsLoading && generation === this.generation) this.loading = false;
    }
  }
}
