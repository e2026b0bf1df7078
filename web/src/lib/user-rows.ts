import { meterUsage, type LiveEvent, type Role, type User, type UserListItem, type UserSort, type UserStatus } from '@roster/shared';

export interface UserFilters {
  q: string;
  role: Role | '';
  status: UserStatus | '';
  sort: UserSort;
}

/** The loaded rows of the users table, and how many users match in all. */
export interface UserRows {
  items: UserListItem[];
  total: number;
}

/** What the rows were loaded for: the filters and sort, and whether pages beyond them remain. */
export interface UserRowsView {
  filters: UserFilters;
  /**
   * The last row of the loaded pages as it was loaded, where the next page starts; null when no
   * page remains. A row that sorts after it arrives with paging; one before it belongs here now,
   * even when the rows loaded last have since left (changed out of the filters, deleted).
   */
  loadedUpTo: UserListItem | null;
  /** Who is looking: their own changes do not flash. */
  selfId: string | undefined;
}

function matches(user: Pick<User, 'username' | 'display_name' | 'email' | 'role' | 'status'>, filters: UserFilters): boolean {
  if (filters.role && user.role !== filters.role) return false;
  if (filters.status && user.status !== filters.status) return false;
  const q = filters.q.trim().toLowerCase();
  return !q || `${user.username} ${user.display_name} ${user.email}`.toLowerCase().includes(q);
}

function sortValue(user: Partial<User>, field: string): string {
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

/** Where `row` goes among the loaded rows in the view's sort; null when it sorts beyond them. */
function insertionIndex(items: UserListItem[], row: Pick<User, 'id'> & Partial<User>, view: UserRowsView): number | null {
  const before = (other: UserListItem) => sortsBefore(row, other, view.filters.sort);
  const index = items.findIndex(before);
  if (index >= 0) return index;
  const boundary = view.loadedUpTo;
  // The row the next page starts after, changed but not moved by the sort, stays its last row.
  const field = view.filters.sort.replace('-', '');
  const stillTheBoundary = boundary?.id === row.id && sortValue(boundary, field) === sortValue(row, field);
  return !boundary || before(boundary) || stillTheBoundary ? items.length : null;
}

/** Whether `row` comes before `other` in the sort (the id breaks ties, as on the server). */
function sortsBefore(row: Pick<User, 'id'> & Partial<User>, other: UserListItem, sort: UserSort): boolean {
  const field = sort.replace('-', '');
  const [key, value] = [sortValue(row, field), sortValue(other, field)];
  return sort.startsWith('-') ? key > value || (key === value && row.id > other.id) : key < value || (key === value && row.id < other.id);
}

/** Changes the row of `userId`, if it is loaded. */
function update(rows: UserRows, userId: string | null, change: (row: UserListItem) => UserListItem): UserRows {
  return userId ? { ...rows, items: rows.items.map((u) => (u.id === userId ? change(u) : u)) } : rows;
}

/** A deleted user: their row goes, and the count if they matched (loaded or not). */
function remove(rows: UserRows, user: User, filters: UserFilters): UserRows {
  const shown = rows.items.some((u) => u.id === user.id);
  if (!shown && !matches(user, filters)) return rows;
  return { items: shown ? rows.items.filter((u) => u.id !== user.id) : rows.items, total: Math.max(0, rows.total - 1) };
}

/**
 * The user as they were before a change: the changed fields' old values (`changes`), so whether
 * they matched is known also when their row is not loaded. Null for a new user.
 */
type Before = Record<string, { from: unknown }> | null;

/** The user as they were before a change, from the changed fields' old values. */
function formerly(user: User, before: NonNullable<Before>): User {
  return { ...user, ...Object.fromEntries(Object.entries(before).map(([field, { from }]) => [field, from])) };
}

/**
 * What an event did to the rows, and a user not loaded who now belongs among them (`missing`):
 * their row is to be read, as the event does not carry what the list shows of them (sessions,
 * projects, usage).
 */
export interface AppliedEvent {
  rows: UserRows;
  missing?: string;
  /** The row someone else just changed, for a brief highlight. */
  flash?: string;
}

/**
 * A user as created or changed: placed by the sort, dropped when the filters no longer match. The
 * count follows whether they match now and whether they did before, loaded or not.
 */
function upsert(rows: UserRows, user: User, before: Before, view: UserRowsView): AppliedEvent {
  const existing = rows.items.find((u) => u.id === user.id);
  if (existing && existing.version >= user.version) return { rows };
  const matchedBefore = existing !== undefined || (before !== null && matches(formerly(user, before), view.filters));
  const matchesNow = matches(user, view.filters);
  if (!existing && !matchedBefore && !matchesNow) return { rows };
  const total = rows.total + Number(matchesNow) - Number(matchedBefore);
  const items = rows.items.filter((u) => u.id !== user.id);
  if (!matchesNow) return { rows: { items, total } };
  const row: UserListItem = existing ? { ...existing, ...user, usage: withBudgets(existing.usage, user) } : newRow(user);
  const position = insertionIndex(items, row, view);
  // Beyond the loaded pages: it will arrive with paging. Only the count may change now.
  if (position === null) return { rows: existing || total !== rows.total ? { items, total } : rows };
  if (!existing && before !== null) return { rows: { items, total }, missing: user.id };
  items.splice(position, 0, row);
  return { rows: { items, total } };
}

/** What a sign-in's event says. */
type SessionCreated = Extract<LiveEvent, { action: 'session.created' }>['data'];

function withSignIn(row: UserListItem, lastLoginAt: string | null): UserListItem {
  return { ...row, session_count: row.session_count + 1, last_login_at: lastLoginAt ?? row.last_login_at };
}

/**
 * A sign-in of a user in a table sorted by last sign-in: their row moves to where the time puts
 * it, and a user not loaded who matches the filters and now sorts among the loaded rows is
 * `missing`. (Sign-ins recorded before events named the role and status may be anyone's: their
 * row is read, and reading it tells.)
 */
function signedIn(rows: UserRows, signIn: SessionCreated, view: UserRowsView): AppliedEvent {
  const { user_id: userId, last_login_at: lastLoginAt, display_name, email, username, role, status } = signIn;
  const existing = rows.items.find((u) => u.id === userId);
  if (!existing) {
    const known = username !== undefined && email !== undefined && role !== undefined && status !== undefined;
    if (known && !matches({ username, display_name, email, role, status }, view.filters)) return { rows };
    return { rows, missing: lastLoginAt && insertionIndex(rows.items, { id: userId, last_login_at: lastLoginAt }, view) !== null ? userId : undefined };
  }
  const row = withSignIn(existing, lastLoginAt);
  const items = rows.items.filter((u) => u.id !== userId);
  const position = insertionIndex(items, row, view);
  if (position !== null) items.splice(position, 0, row);
  return { rows: { ...rows, items } };
}

/**
 * A further page's rows (new to the loaded ones) added to them: after them, except rows an event
 * moved up among them while the page was on its way, which are placed by the sort. `view`'s
 * `loadedUpTo` is where the page was read from.
 */
export function addPage(items: UserListItem[], rows: UserListItem[], view: UserRowsView): UserListItem[] {
  const placed = [...items];
  const after: UserListItem[] = [];
  for (const row of rows) {
    if (view.loadedUpTo && sortsBefore(row, view.loadedUpTo, view.filters.sort)) placed.splice(insertionIndex(placed, row, view) ?? placed.length, 0, row);
    else after.push(row);
  }
  return [...placed, ...after];
}

/** `events` applied in order to rows: the rows, and the users now among them whose row is to be read. */
export function applyUserEvents(rows: UserRows, events: LiveEvent[], view: UserRowsView): { rows: UserRows; missing: string[] } {
  const missing: string[] = [];
  for (const event of events) {
    const applied = applyUserEvent(rows, event, view);
    rows = applied.rows;
    if (applied.missing) missing.push(applied.missing);
  }
  return { rows, missing };
}

/**
 * A user's row read because they became `missing`: placed by the sort if they match and still
 * belong among the loaded rows. The count already took them.
 */
export function placeRow(rows: UserRows, row: UserListItem, view: UserRowsView): UserRows {
  if (rows.items.some((u) => u.id === row.id)) return rows;
  const position = insertionIndex(rows.items, row, view);
  if (position === null) return rows;
  return { ...rows, items: [...rows.items.slice(0, position), row, ...rows.items.slice(position)] };
}

/**
 * What one live event does to the loaded rows (the rows are not changed; new ones are returned,
 * or the same when the event does not touch them), and the row that someone else just changed.
 */
export function applyUserEvent(rows: UserRows, event: LiveEvent, view: UserRowsView): AppliedEvent {
  switch (event.action) {
    case 'user.deleted':
      return { rows: remove(rows, event.data.user, view.filters) };
    case 'user.created':
    case 'user.updated':
    case 'user.password_reset': {
      const { user } = event.data;
      // A password reset changes none of what the filters look at.
      const before = event.action === 'user.created' ? null : event.action === 'user.updated' ? event.data.changes : {};
      const next = upsert(rows, user, before, view);
      const placed = next.rows !== rows && next.rows.items.some((u) => u.id === user.id);
      return { ...next, flash: (placed || next.missing) && event.actor.id !== view.selfId ? user.id : undefined };
    }
    case 'project.created':
    case 'project.updated':
    case 'project.deleted': {
      const totals = new Map(event.data.owners.map((o) => [o.user_id, o]));
      const items = rows.items.map((u) => {
        const total = totals.get(u.id);
        return total ? { ...u, project_count: total.project_count, storage_bytes: total.storage_bytes } : u;
      });
      return { rows: { ...rows, items } };
    }
    case 'usage.recorded': {
      const { user_id, meter, usage } = event.data;
      return { rows: update(rows, user_id, (u) => ({ ...u, usage: { ...u.usage, [meter]: usage } })) };
    }
    case 'api_key.created':
    case 'api_key.revoked': {
      const delta = event.action === 'api_key.created' ? 1 : -1;
      return { rows: update(rows, event.data.user_id, (u) => ({ ...u, api_key_count: Math.max(0, u.api_key_count + delta) })) };
    }
    case 'session.created': {
      const { user_id, last_login_at } = event.data;
      if (view.filters.sort.endsWith('last_login_at')) return signedIn(rows, event.data, view);
      return { rows: update(rows, user_id, (u) => withSignIn(u, last_login_at)) };
    }
    case 'session.revoked':
      return { rows: update(rows, event.data.user_id, (u) => ({ ...u, session_count: Math.max(0, u.session_count - 1) })) };
    default:
      return { rows };
  }
}
