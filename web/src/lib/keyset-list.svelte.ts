import { untrack } from 'svelte';

/** A page of a list read with keyset cursors, as every list route answers. */
export interface KeysetPage<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * A list loaded a page at a time with keyset cursors (the users table, the sessions list). A
 * reload starts over and makes the answers of older loads void, so a slow page of an old search
 * never replaces a newer one.
 */
export abstract class KeysetList<T extends { id: string }, P extends KeysetPage<T>> {
  items = $state<T[]>([]);
  loading = $state(false);
  protected cursor: string | null = null;
  private generation = 0;

  get hasMore() {
    return this.cursor !== null;
  }

  /** The page after `cursor` (the first one for null). */
  protected abstract fetchPage(cursor: string | null): Promise<P>;
  /** What else a page that arrived tells (counts); the load that wanted it succeeded. */
  protected abstract received(page: P): void;
  /** The first page could not be loaded. */
  protected abstract failed(error: unknown): void;
  /** The rows once a page arrived, as they stand now (a list kept current by events replays those that came meanwhile). */
  protected arrived(items: T[]): T[] {
    return items;
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
      this.items = this.arrived(page.items);
      this.cursor = page.next_cursor;
      this.received(page);
    } catch (e) {
      if (generation === this.generation) this.failed(e);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  /** Adds the next page to the loaded ones (rows that moved up meanwhile are not shown twice). */
  async loadMore() {
    if (this.loading || !this.cursor) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const cursor = this.cursor;
      const page = await untrack(() => this.fetchPage(cursor));
      if (generation !== this.generation) return;
      const known = new Set(this.items.map((item) => item.id));
      this.items = this.arrived([...this.items, ...page.items.filter((item) => !known.has(item.id))]);
      this.cursor = page.next_cursor;
      this.received(page);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }
}
