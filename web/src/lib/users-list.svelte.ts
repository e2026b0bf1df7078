import type { LiveEvent, UserListItem, UserList } from '@roster/shared';
import { api } from './api';
import { Flashing } from './flashing.svelte';
import { KeysetList, nextPageStart } from './keyset-list.svelte';
import { attempt } from './notify';
import { applyUserEvent, placeRow, type UserFilters } from './user-rows';

export type { UserFilters } from './user-rows';

const PAGE_SIZE = 100;

/** One page of users matching `filters`, after `cursor`. */
function usersPage(filters: UserFilters, limit: number, cursor: string | null, id?: string): Promise<UserList> {
  const { q, role, status, sort } = filters;
  return api('GET /users', {
    query: { q: q || undefined, role: role || undefined, status: status || undefined, sort: sort === '-created_at' ? undefined : sort, limit, cursor: cursor ?? undefined, id },
  });
}

/**
 * The users table's data: pages loaded with keyset cursors, then kept current by live events, so
 * the table never needs a refetch to show what other admins do.
 */
export class UsersList extends KeysetList<UserListItem, UserList> {
  total = $state(0);
  /** Beyond 10,000 matches the server estimates the count (counting a million rows costs more than the page). */
  totalIsEstimate = $state(false);
  error = $state<string | null>(null);
  /** Ids changed by someone else just now, for a brief highlight. */
  readonly flashing = new Flashing();

  constructor(public filters: UserFilters) {
    super();
  }

  reload(filters: UserFilters = this.filters) {
    this.filters = filters;
    return this.loadFirst();
  }

  protected fetchPage(cursor: string | null): Promise<UserList> {
    return usersPage(this.filters, PAGE_SIZE, cursor);
  }

  protected arrived(page: UserList, events: LiveEvent[]): UserListItem[] {
    const view = { filters: this.filters, loadedUpTo: nextPageStart(page), selfId: undefined };
    const rows = events.reduce((rows, event) => applyUserEvent(rows, event, view).rows, { items: page.items, total: page.total });
    this.total = rows.total;
    this.totalIsEstimate = page.total_is_estimate;
    this.error = null;
    return rows.items;
  }

  protected failed(error: unknown) {
    // The rows of the filters before would pass for the answer to these.
    this.items = [];
    this.total = 0;
    this.error = error instanceof Error ? error.message : String(error);
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

  /** Applies one live event to the loaded rows (`selfId`: who is looking; their own changes do not flash). */
  apply(event: LiveEvent, selfId: string | undefined) {
    if (!this.position.take(event)) return;
    const { rows, flash, missing } = applyUserEvent({ items: this.items, total: this.total }, event, this.view(selfId));
    this.items = rows.items;
    this.total = rows.total;
    if (flash) this.flashing.add(flash);
    if (missing && !this.bringing.has(missing)) void attempt(() => this.bringIn(missing, selfId));
  }

  private view(selfId: string | undefined) {
    return { filters: this.filters, loadedUpTo: this.loadedUpTo, selfId };
  }

  /** Users whose row is on its way (`bringIn`). */
  private readonly bringing = new Set<string>();

  /**
   * Reads the row of a user who moved among the loaded rows from beyond them (a user promoted into
   * a role filter, a sign-in in a table sorted by last sign-in), with what the list shows of them.
   */
  private async bringIn(userId: string, selfId: string | undefined) {
    this.bringing.add(userId);
    try {
      await this.readBeside(
        () => usersPage(this.filters, 1, null, userId),
        (page, events) => {
          const view = { ...this.view(selfId), loadedUpTo: null };
          const rows = events.reduce((rows, event) => applyUserEvent(rows, event, view).rows, { items: page.items, total: page.items.length });
          const row = rows.items.find((u) => u.id === userId);
          if (row) this.items = placeRow({ items: this.items, total: this.total }, row, this.view(selfId)).items;
        },
        { showsLoading: false },
      );
    } finally {
      this.bringing.delete(userId);
    }
  }
}
