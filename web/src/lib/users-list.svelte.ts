import { meterUsage, type LiveEvent, type Role, type User, type UserListItem, type UserList, type UserSort, type UserStatus } from '@roster/shared';
import { api } from './api';
import { Flashing } from './flashing.svelte';

export interface UserFilters {
  q: string;
  role: Role | '';
  status: UserStatus | '';
  sort: UserSort;
}

const PAGE_SIZE = 100;

/** One page of users matching `filters`, after `cursor`. */
function usersPage(filters: UserFilters, limit: number, cursor: string | null): Promise<UserList> {
  const { q, role, status, sort } = filters;
  return api('GET /users', {
    query: { q: q || undefined, role: role || undefined, status: status || undefined, sort: sort === '-created_at' ? undefined : sort, limit, cursor: cursor ?? undefined },
  });
}

function matches(user: User, filters: UserFilters): boolean {
  if (filters.role && user.role !== filters.role) return false;
  if (filters.status && user.status !== filters.status) return false;
  const q = filters.q.trim().toLowerCase();
  return !q || `${user.username} ${user.display_name} ${user.email}`.toLowerCase().includes(q);
}

function sortValue(user: User, field: string): string {
  if (field === 'last_login_at') return user.last_login_at ?? '';
  return String(user[field as keyof User]).toLowerCase();
}

function newRow(user: User): UserListItem {
  return {
    ...user,
    session_count: 0,
    project_count: 0,
    storage_bytes: 0,
    api_key_count: 0,
    usage: { tokens: meterUsage(0, user.token_budget), minutes: meterUsage(0, user.minute_budget) },
  };
}

/** A budget change re-rates the month's use at once. */
function withBudgets(usage: UserListItem['usage'], user: User): UserListItem['usage'] {
  return { tokens: meterUsage(usage.tokens.used, user.token_budget), minutes: meterUsage(usage.minutes.used, user.minute_budget) };
}

/**
 * The users table's data: pages loaded with keyset cursors, then kept current by live events, so
 * the table never needs a refetch to show what other admins do.
 */
export class UsersList {
  items = $state<UserListItem[]>([]);
  total = $state(0);
  /** Beyond 10,000 matches the server estimates the count (counting a million rows costs more than the page). */
  totalIsEstimate = $state(false);
  loading = $state(false);
  error = $state<string | null>(null);
  /** Ids changed by someone else just now, for a brief highlight. */
  readonly flashing = new Flashing();
  private cursor: string | null = null;
  private generation = 0;

  constructor(public filters: UserFilters) {}

  get hasMore() {
    return this.cursor !== null;
  }

  async reload(filters: UserFilters = this.filters) {
    this.filters = filters;
    this.cursor = null;
    const generation = ++this.generation;
    this.loading = true;
    try {
      const page = await this.fetchPage(null);
      if (generation !== this.generation) return; // a newer search already started
      this.items = page.items;
      this.total = page.total;
      this.totalIsEstimate = page.total_is_estimate;
      this.cursor = page.next_cursor;
      this.error = null;
    } catch (e) {
      if (generation === this.generation) this.error = e instanceof Error ? e.message : String(e);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  async loadMore() {
    if (this.loading || !this.cursor) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const page = await this.fetchPage(this.cursor);
      if (generation !== this.generation) return;
      const known = new Set(this.items.map((u) => u.id));
      this.items = [...this.items, ...page.items.filter((u) => !known.has(u.id))];
      this.total = page.total;
      this.totalIsEstimate = page.total_is_estimate;
      this.cursor = page.next_cursor;
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  /** Every id matching the current filters (for "select all"), page by page. */
  async allMatchingIds(onProgress?: (loaded: number) => void): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: UserList = await usersPage(this.filters, 200, cursor);
      ids.push(...page.items.map((u) => u.id));
      onProgress?.(ids.length);
      cursor = page.next_cursor;
    } while (cursor);
    return ids;
  }

  /** Applies one live event to the loaded rows. */
  apply(event: LiveEvent, selfId: string | undefined) {
    switch (event.action) {
      case 'user.deleted':
        if (event.target_id) this.remove(event.target_id);
        return;
      case 'user.created':
      case 'user.updated':
      case 'user.password_reset':
        return this.upsert(event.data.user, event.actor.id !== selfId);
      case 'project.created':
      case 'project.updated':
      case 'project.deleted': {
        const totals = new Map(event.data.owners.map((o) => [o.user_id, o]));
        this.items = this.items.map((u) => {
          const total = totals.get(u.id);
          return total ? { ...u, project_count: total.project_count, storage_bytes: total.storage_bytes } : u;
        });
        return;
      }
      case 'usage.recorded': {
        const { user_id, meter, usage } = event.data;
        return this.update(user_id, (u) => ({ ...u, usage: { ...u.usage, [meter]: usage } }));
      }
      case 'api_key.created':
      case 'api_key.revoked': {
        const delta = event.action === 'api_key.created' ? 1 : -1;
        return this.update(event.data.user_id, (u) => ({ ...u, api_key_count: Math.max(0, u.api_key_count + delta) }));
      }
      case 'session.created':
        return this.update(event.data.user_id, (u) => ({ ...u, session_count: u.session_count + 1, last_login_at: event.data.last_login_at ?? u.last_login_at }));
      case 'session.revoked':
        return this.update(event.data.user_id, (u) => ({ ...u, session_count: Math.max(0, u.session_count - 1) }));
    }
  }

  /** Changes the row of `userId`, if it is loaded. */
  private update(userId: string | null, change: (row: UserListItem) => UserListItem) {
    if (userId) this.items = this.items.map((u) => (u.id === userId ? change(u) : u));
  }

  private upsert(user: User, flash: boolean) {
    const index = this.items.findIndex((u) => u.id === user.id);
    const existing = this.items[index];
    if (existing && existing.version >= user.version) return;
    if (!matches(user, this.filters)) {
      if (existing) this.remove(user.id);
      return;
    }
    const row: UserListItem = existing ? { ...existing, ...user, usage: withBudgets(existing.usage, user) } : newRow(user);
    const next = this.items.filter((u) => u.id !== user.id);
    const position = this.insertionIndex(next, row);
    if (position === null) {
      // Beyond the loaded pages: it will arrive with paging. Only the count changes now.
      if (!existing) this.total += 1;
      this.items = next;
      return;
    }
    next.splice(position, 0, row);
    if (!existing) this.total += 1;
    this.items = next;
    if (flash) this.flashing.add(user.id);
  }

  private remove(id: string) {
    if (!this.items.some((u) => u.id === id)) return;
    this.items = this.items.filter((u) => u.id !== id);
    this.total = Math.max(0, this.total - 1);
  }

  private insertionIndex(items: UserListItem[], row: UserListItem): number | null {
    const descending = this.filters.sort.startsWith('-');
    const field = this.filters.sort.replace('-', '');
    const key = sortValue(row, field);
    const before = (other: UserListItem) => {
      const value = sortValue(other, field);
      return descending ? key > value || (key === value && row.id > other.id) : key < value || (key === value && row.id < other.id);
    };
    const index = items.findIndex(before);
    if (index >= 0) return index;
    return this.cursor ? null : items.length;
  }

  private fetchPage(cursor: string | null): Promise<UserList> {
    return usersPage(this.filters, PAGE_SIZE, cursor);
  }
}
