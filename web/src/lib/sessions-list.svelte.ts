import type { LiveEvent, SessionEntry } from '@roster/shared';
import { api, toApiError, type ApiError } from './api';
import { Flashing } from './flashing.svelte';
import { applySessionEvent, type SessionFilters } from './session-rows';

export type { SessionFilters } from './session-rows';

const PAGE_SIZE = 100;

function query(filters: SessionFilters, cursor: string | null) {
  return {
    q: filters.q || undefined,
    online: filters.online || undefined,
    ip: filters.ip || undefined,
    agent: filters.agent || undefined,
    cursor: cursor ?? undefined,
    limit: PAGE_SIZE,
  };
}

/**
 * The sessions list: most recently used first, a page at a time (keyset cursors), kept current by
 * the live feed, so 100,000 sessions load only as far as someone scrolls.
 */
export class SessionsList {
  items = $state<SessionEntry[]>([]);
  loading = $state(false);
  error = $state<ApiError | null>(null);
  readonly flashing = new Flashing();
  filters = $state<SessionFilters>({ q: '', online: '', ip: '', agent: '' });
  private cursor: string | null = null;
  private generation = 0;

  constructor(filters: SessionFilters) {
    this.filters = filters;
  }

  get hasMore() {
    return this.cursor !== null;
  }

  async reload(filters: SessionFilters = this.filters) {
    this.filters = filters;
    this.cursor = null;
    const generation = ++this.generation;
    this.loading = true;
    try {
      const page = await api('GET /sessions', { query: query(filters, null) });
      if (generation !== this.generation) return; // a newer filter already started
      this.items = page.items;
      this.cursor = page.next_cursor;
      this.error = null;
    } catch (e) {
      if (generation === this.generation) {
        this.items = [];
        this.cursor = null;
        this.error = toApiError(e);
      }
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  async loadMore() {
    if (this.loading || !this.cursor) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const page = await api('GET /sessions', { query: query(this.filters, this.cursor) });
      if (generation !== this.generation) return;
      const known = new Set(this.items.map((s) => s.id));
      this.items = [...this.items, ...page.items.filter((s) => !known.has(s.id))];
      this.cursor = page.next_cursor;
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  /** Applies one live event to the loaded rows. */
  apply(event: LiveEvent) {
    const { items, flash } = applySessionEvent(this.items, event, this.filters);
    this.items = items;
    if (flash) this.flashing.add(flash);
  }
}
