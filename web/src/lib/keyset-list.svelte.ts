import { untrack } from 'svelte';
import type { LiveEvent } from '@roster/shared';

/** A page of a list read with keyset cursors, as every list route answers. */
export interface KeysetPage<T> {
  items: T[];
  next_cursor: string | null;
  /** The newest live event the page reflects. */
  seq: number;
}

/**
 * A list loaded a page at a time with keyset cursors and kept current by live events (the users
 * table, the sessions list). A reload starts over and makes the answers of older loads void, so a
 * slow page of an old search never replaces a newer one.
 *
 * Pages and events race: a page can be read before an event and arrive after it, or be read after
 * an event that arrives after it. Each page says which event it is current to (`seq`), so the list
 * applies to it the events that came after that one while it was on its way, and drops an event
 * that its rows already reflect. Counted changes (a session more) are then counted exactly once.
 */
export abstract class KeysetList<T extends { id: string }, P extends KeysetPage<T>> {
  items = $state<T[]>([]);
  loading = $state(false);
  protected cursor: string | null = null;
  private generation = 0;
  /** The newest live event the rows reflect. */
  private seq = 0;
  /** Live events applied while a page was on its way, in order. */
  private meanwhile: LiveEvent[] = [];

  get hasMore() {
    return this.cursor !== null;
  }

  /** The page after `cursor` (the first one for null). */
  protected abstract fetchPage(cursor: string | null): Promise<P>;
  /** The rows of a page that arrived with `events` (newer than the page) applied to them; also takes what else the page tells (counts). */
  protected abstract arrived(page: P, events: LiveEvent[]): T[];
  /** The first page could not be loaded. */
  protected abstract failed(error: unknown): void;

  /**
   * Whether the rows do not reflect `event` yet; if so, it counts as applied from here on (the
   * caller applies it), also for a page still on its way.
   */
  protected isNews(event: LiveEvent): boolean {
    if (event.seq <= this.seq) return false;
    this.seq = event.seq;
    if (this.loading) this.meanwhile.push(event);
    else this.meanwhile = [];
    return true;
  }

  /** The events applied while `page` was on its way that it does not reflect. */
  private newerThan(page: P): LiveEvent[] {
    const events = this.meanwhile.filter((event) => event.seq > page.seq);
    this.meanwhile = [];
    return events;
  }

  /** Loads the first page again (after the filters changed). */
  protected async loadFirst() {
    this.cursor = null;
    const generation = ++this.generation;
    this.loading = true;
    try {
      // Reloads start from effects: what the request reads (the filters) must not become their dependency.
      const page = await untrack(() => this.fetchPage(null));
      if (generation !== this.generation) return; // a newer load already started
      this.items = this.arrived(page, this.newerThan(page));
      this.seq = Math.max(this.seq, page.seq);
      this.cursor = page.next_cursor;
    } catch (e) {
      if (generation === this.generation) this.failed(e);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  /**
   * Adds the next page to the loaded ones (rows that moved up meanwhile are not shown twice). The
   * loaded rows stay current to their events: a page read ahead of them (its events still on their
   * way) counts those events in its own rows once more when they come.
   */
  async loadMore() {
    if (this.loading || !this.cursor) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const cursor = this.cursor;
      const page = await untrack(() => this.fetchPage(cursor));
      if (generation !== this.generation) return;
      const known = new Set(this.items.map((item) => item.id));
      this.items = [...this.items, ...this.arrived(page, this.newerThan(page)).filter((item) => !known.has(item.id))];
      this.cursor = page.next_cursor;
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }
}
