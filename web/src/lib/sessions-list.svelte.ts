import type { LiveEvent, SessionEntry } from '@roster/shared';
import { api, toApiError, type ApiError } from './api';
import { Flashing } from './flashing.svelte';
import { withApplicationEvent } from './session-applications';

export interface SessionFilters {
  q: string;
  online: '' | 'true' | 'false';
  ip: string;
  agent: string;
}

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

/** Whether a session that just began belongs in the list as filtered (the server decides for loaded pages). */
function matches(entry: SessionEntry, filters: SessionFilters): boolean {
  const q = filters.q.trim().toLowerCase();
  if (q && !`${entry.user.username} ${entry.user.display_name}`.toLowerCase().includes(q)) return false;
  if (filters.online === 'true') return false; // a new session has no live connection yet
  if (filters.agent && !(entry.user_agent ?? '').toLowerCase().includes(filters.agent.toLowerCase())) return false;
  // An address filter may be a network: only the server can tell; the next reload shows it.
  return !filters.ip;
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
    switch (event.action) {
      case 'session.revoked':
        this.items = this.items.filter((s) => s.id !== event.target_id);
        return;
      case 'session.revoked_all':
        this.items = this.items.filter((s) => s.id === event.data.kept_session_id);
        return;
      case 'user.deleted':
        this.items = this.items.filter((s) => s.user_id !== event.target_id);
        return;
      case 'session.created': {
        if (!event.target_id || this.items.some((s) => s.id === event.target_id)) return;
        const { user_id, display_name, ip, user_agent, expires_at } = event.data;
        const entry: SessionEntry = {
          id: event.target_id,
          user_id,
          created_at: event.at,
          last_seen_at: event.at,
          authenticated_at: event.at,
          expires_at,
          ip,
          user_agent,
          user: { id: user_id, username: event.target_label ?? '', display_name },
          applications: [],
          online: false,
          current: false,
        };
        if (!matches(entry, this.filters)) return;
        // The most recently used session: first in the list.
        this.items = [entry, ...this.items];
        this.flashing.add(entry.id);
        return;
      }
      default:
        if (event.action.startsWith('application.')) this.items = this.items.map((s) => withApplicationEvent(s, event));
    }
  }
}
