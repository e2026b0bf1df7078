import type { LiveEvent, UserListItem, UserList } from '@roster/shared';
import { api } from './api';
import { Flashing } from './flashing.svelte';
import { KeysetList, nextPageStart } from './keyset-list.svelte';
import { addPage, applyUserEvent, applyUserEvents, placeRow, type UserFilters } from './user-rows';

export type { UserFilters } from './user-rows';

const PAGE_SIZE = 100;
// Rows read on their own at once, so a burst of sign-ins does not become a burst of requests.
const READS_AT_ONCE = 4;
// Past this many rows waiting for a read, one load of the first page costs less than reading each.
const READS_WAITING_AT_MOST = 12;

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

  /** Starting over, the first page is current: rows waiting for a read of their own, or on their way, come with it. */
  protected override loadFirst() {
    this.waiting.clear();
    this.bringing.clear();
    return super.loadFirst();
  }

  protected fetchPage(cursor: string | null): Promise<UserList> {
    return usersPage(this.filters, PAGE_SIZE, cursor);
  }

  protected arrived(page: UserList, events: LiveEvent[]): UserListItem[] {
    const view = { filters: this.filters, loadedUpTo: nextPageStart(page), selfId: undefined };
    const { rows, missing } = applyUserEvents({ items: page.items, total: page.total }, events, view);
    this.total = rows.total;
    this.totalIsEstimate = page.total_is_estimate;
    this.error = null;
    // Once the page's rows are in place.
    for (const userId of missing) queueMicrotask(() => this.bringIn(userId));
    return rows.items;
  }

  protected override added(items: UserListItem[], rows: UserListItem[]): UserListItem[] {
    return addPage(items, rows, { filters: this.filters, loadedUpTo: this.loadedUpTo, selfId: undefined });
  }

  protected failed(error: unknown) {
    // The rows of the filters before would pass for the answer to these; until a reload there are none.
    this.items = [];
    this.total = 0;
    this.loadedUpTo = null;
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
    // After a failed first page the table shows the failure, not rows, until it is loaded again.
    if (this.error || !this.position.take(event)) return;
    const { rows, flash, missing } = applyUserEvent({ items: this.items, total: this.total }, event, { filters: this.filters, loadedUpTo: this.loadedUpTo, selfId });
    this.items = rows.items;
    this.total = rows.total;
    if (flash) this.flashing.add(flash);
    if (missing) this.bringIn(missing);
  }

  /** Users whose row is on its way, and whether they became missing again meanwhile. */
  private readonly bringing = new Map<string, boolean>();
  /** Users whose row waits for a read of its own to be free (a burst of sign-ins). */
  private readonly waiting = new Set<string>();

  /**
   * Reads the row of a user who moved among the loaded rows from beyond them (a user promoted into
   * a role filter, a sign-in in a table sorted by last sign-in), with what the list shows of them,
   * and places it as a further page is placed. Asked again while it is on its way, it reads again
   * afterwards if the row is still not there (promoted, demoted and promoted again meanwhile). At
   * most READS_AT_ONCE are on their way; the others wait their turn, and when too many wait (a
   * storm of sign-ins, a bulk role change) the list starts over from its first page, which is current.
   */
  private bringIn(userId: string) {
    // The first page on its way brings the row: the events meanwhile are applied to it.
    if (this.startingOver) return;
    if (this.bringing.has(userId)) return void this.bringing.set(userId, true);
    this.waiting.add(userId);
    if (this.waiting.size > READS_WAITING_AT_MOST) return void this.loadFirst();
    for (const next of this.waiting) {
      if (this.bringing.size >= READS_AT_ONCE) return;
      this.waiting.delete(next);
      this.readRow(next);
    }
  }

  private readRow(userId: string) {
    const generation = this.generation;
    this.bringing.set(userId, false);
    const read = this.readBeside(
      () => usersPage(this.filters, 1, null, userId),
      (page, events) => {
        const anywhere = { filters: this.filters, loadedUpTo: null, selfId: undefined };
        const { rows, missing } = applyUserEvents({ items: page.items, total: page.items.length }, events, anywhere);
        const row = rows.items.find((u) => u.id === userId);
        if (row) this.items = placeRow({ items: this.items, total: this.total }, row, { ...anywhere, loadedUpTo: this.loadedUpTo }).items;
        else if (missing.includes(userId)) this.bringing.set(userId, true);
      },
      // Without the row the table is not what the server has (a count with a row short).
      { showsLoading: false, startsOverOnFailure: true },
    );
    void read.finally(() => {
      // Started over meanwhile: the new first page brings the row, and `bringing` is the new list's.
      if (generation !== this.generation) return;
      const again = this.bringing.get(userId);
      this.bringing.delete(userId);
      if (again && !this.items.some((u) => u.id === userId)) this.waiting.add(userId);
      const next = this.waiting.values().next();
      if (!next.done) this.bringIn(next.value);
    });
  }
}
