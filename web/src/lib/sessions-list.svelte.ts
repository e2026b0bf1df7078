import type { LiveEvent, SessionEntry, SessionList } from '@roster/shared';
import { api, toApiError, type ApiError } from './api';
import { Flashing } from './flashing.svelte';
import { KeysetList } from './keyset-list.svelte';
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
export class SessionsList extends KeysetList<SessionEntry, SessionList> {
  error = $state<ApiError | null>(null);
  readonly flashing = new Flashing();
  filters = $state<SessionFilters>({ q: '', online: '', ip: '', agent: '' });

  constructor(filters: SessionFilters) {
    super();
    this.filters = filters;
  }

  reload(filters: SessionFilters = this.filters) {
    this.filters = filters;
    return this.loadFirst();
  }

  protected fetchPage(cursor: string | null): Promise<SessionList> {
    return api('GET /sessions', { query: query(this.filters, cursor) });
  }

  protected arrived(page: SessionList, events: LiveEvent[]): SessionEntry[] {
    this.error = null;
    return events.reduce((rows, event) => applySessionEvent(rows, event, this.filters).items, page.items);
  }

  protected failed(error: unknown) {
    this.items = [];
    this.cursor = null;
    this.error = toApiError(error);
  }

  /** Applies one live event to the loaded rows. */
  apply(event: LiveEvent) {
    if (!this.position.take(event)) return;
    const { items, flash } = applySessionEvent(this.items, event, this.filters);
    this.items = items;
    if (flash) this.flashing.add(flash);
  }
}
