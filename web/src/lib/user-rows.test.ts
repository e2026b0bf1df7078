import { describe, expect, test } from 'vitest';
import { meterUsage, type LiveEvent, type User, type UserListItem } from '@roster/shared';
import { liveEvent, testId } from './testing/events';
import { addPage, applyUserEvent, applyUserEvents, placeRow, type UserRows, type UserRowsView } from './user-rows';


function user(fields: Partial<User> = {}): User {
  const username = fields.username ?? 'someone';
  return {
    id: testId(),
    username,
    display_name: username,
    email: `${username}@example.com`,
    role: 'user',
    status: 'active',
    password_change_required: false,
    can_share_publicly: false,
    two_factor_enabled: false,
    token_budget: null,
    minute_budget: null,
    version: 1,
    created_at: '2026-11-01T00:00:00Z',
    updated_at: '2026-11-01T00:00:00Z',
    last_login_at: null,
    ...fields,
  };
}

function row(fields: Partial<UserListItem> = {}): UserListItem {
  const base = user(fields);
  return {
    session_count: 0,
    project_count: 0,
    storage_bytes: 0,
    api_key_count: 0,
    usage: { tokens: meterUsage(0, base.token_budget), minutes: meterUsage(0, base.minute_budget) },
    ...base,
    ...fields,
  };
}

const view = (fields: Partial<UserRowsView> = {}): UserRowsView => ({
  filters: { q: '', role: '', status: '', sort: 'username' },
  loadedUpTo: null,
  selfId: 'me',
  ...fields,
});

const usernames = (rows: UserRows) => rows.items.map((u) => u.username);

describe('applyUserEvent: the users table kept current by the live feed', () => {
  test('a new user is placed by the sort, counted, and flashed', () => {
    const rows = { items: [row({ username: 'alice' }), row({ username: 'carol' })], total: 2 };
    const bob = user({ username: 'bob' });
    const { rows: next, flash } = applyUserEvent(rows, liveEvent('user.created', { data: { user: bob } }), view());
    expect(usernames(next)).toEqual(['alice', 'bob', 'carol']);
    expect(next.total).toBe(3);
    expect(flash).toBe(bob.id);
    expect(next.items[1]).toMatchObject({ session_count: 0, api_key_count: 0, usage: { tokens: { state: 'ok' } } });
    expect(usernames(rows)).toEqual(['alice', 'carol']);
  });

  test('one\'s own change is applied but not flashed', () => {
    const bob = user({ username: 'bob' });
    const { flash } = applyUserEvent({ items: [], total: 0 }, liveEvent('user.created', { actor: { id: 'me', label: 'Me' }, data: { user: bob } }), view());
    expect(flash).toBeUndefined();
  });

  test('descending sorts place newest first; ties go by id', () => {
    const older = row({ username: 'old', created_at: '2026-01-01T00:00:00Z' });
    const newer = user({ username: 'new', created_at: '2026-12-01T00:00:00Z' });
    const { rows } = applyUserEvent({ items: [older], total: 1 }, liveEvent('user.created', { data: { user: newer } }), view({ filters: { q: '', role: '', status: '', sort: '-created_at' } }));
    expect(usernames(rows)).toEqual(['new', 'old']);
  });

  test('a user that sorts beyond the loaded pages is only counted: it arrives with paging', () => {
    const alice = row({ username: 'alice' });
    const rows = { items: [alice], total: 50 };
    const { rows: next, flash } = applyUserEvent(rows, liveEvent('user.created', { data: { user: user({ username: 'zed' }) } }), view({ loadedUpTo: alice }));
    expect(usernames(next)).toEqual(['alice']);
    expect(next.total).toBe(51);
    expect(flash).toBeUndefined();
  });

  test('a row that sorts before where the next page starts is placed, even after the rows loaded last left', () => {
    const [ada, bob, cal] = [row({ username: 'ada' }), row({ username: 'bob' }), row({ username: 'cal' })];
    // Pages loaded up to cal; cal has since left the list (changed out of the filters).
    const rows = { items: [ada, bob], total: 60 };
    // A user who existed and was not loaded: the event lacks their counts, so their row is read.
    const back = applyUserEvent(rows, liveEvent('user.updated', { data: { user: { ...cal, version: 3 }, changes: {} } }), view({ loadedUpTo: cal }));
    expect(back.missing).toBe(cal.id);
    expect(usernames(back.rows)).toEqual(['ada', 'bob']);
    expect(usernames(placeRow(back.rows, { ...cal, session_count: 2 }, view({ loadedUpTo: cal })))).toEqual(['ada', 'bob', 'cal']);
    const between = liveEvent('user.created', { data: { user: user({ username: 'bz' }) } });
    expect(usernames(applyUserEvent(rows, between, view({ loadedUpTo: cal })).rows)).toEqual(['ada', 'bob', 'bz']);
    const beyond = liveEvent('user.created', { data: { user: user({ username: 'dan' }) } });
    expect(usernames(applyUserEvent(rows, beyond, view({ loadedUpTo: cal })).rows)).toEqual(['ada', 'bob']);
  });

  test('sorted by last sign-in, a sign-in moves a loaded row; a user not loaded who now sorts among the rows is missing', () => {
    const latest = view({ filters: { q: '', role: '', status: '', sort: '-last_login_at' } });
    const [ann, ben, cy] = ['03', '02', '01'].map((hour, n) => row({ username: ['ann', 'ben', 'cy'][n], last_login_at: `2026-11-20T${hour}:00:00Z` }));
    const rows = { items: [ann!, ben!, cy!], total: 40 };
    const signIn = (who: UserListItem | User, hour: string) =>
      liveEvent('session.created', { data: { user_id: who.id, display_name: who.display_name, ip: null, user_agent: null, last_login_at: `2026-11-20T${hour}:00:00Z`, expires_at: '2026-12-20T00:00:00Z' } });
    const moved = applyUserEvent(rows, signIn(cy!, '04'), view({ ...latest, loadedUpTo: cy! }));
    expect(usernames(moved.rows)).toEqual(['cy', 'ann', 'ben']);
    expect(moved.rows.items[0]!.session_count).toBe(1);
    expect(moved.rows.total).toBe(40);
    const dan = user({ username: 'dan' });
    const arrived = applyUserEvent(rows, signIn(dan, '05'), view({ ...latest, loadedUpTo: cy! }));
    expect(arrived).toEqual({ rows, missing: dan.id });
    // Oldest first, a sign-in sorts last: beyond the loaded rows while pages remain.
    const oldest = view({ filters: { q: '', role: '', status: '', sort: 'last_login_at' }, loadedUpTo: ann! });
    const later = applyUserEvent({ items: [cy!, ben!, ann!], total: 40 }, signIn(ben!, '06'), oldest);
    expect(usernames(later.rows)).toEqual(['cy', 'ann']);
    expect(applyUserEvent({ items: [cy!, ben!, ann!], total: 40 }, signIn(dan, '06'), oldest).missing).toBeUndefined();
  });

  test('sorted by last sign-in, a sign-in by a user not loaded whom the filters leave out reads no row', () => {
    const latestAdmins = view({ filters: { q: '', role: 'admin', status: '', sort: '-last_login_at' } });
    const ada = row({ username: 'ada', role: 'admin', last_login_at: '2026-11-20T01:00:00.000Z' });
    const signIn = (who: User) =>
      liveEvent('session.created', {
        data: { user_id: who.id, display_name: who.display_name, email: who.email, username: who.username, role: who.role, status: who.status, ip: null, user_agent: null, last_login_at: '2026-11-20T05:00:00.000Z', expires_at: '2026-12-20T00:00:00Z' },
      });
    const plain = user({ username: 'pat' });
    expect(applyUserEvent({ items: [ada], total: 1 }, signIn(plain), latestAdmins).missing).toBeUndefined();
    const admin = user({ username: 'bo', role: 'admin' });
    expect(applyUserEvent({ items: [ada], total: 1 }, signIn(admin), latestAdmins).missing).toBe(admin.id);
  });

  test('oldest sign-in first: the last loaded row signing in moves beyond the loaded rows', () => {
    const [cy, ben, ann] = [['cy', '01'], ['ben', '02'], ['ann', '03']].map(([username, hour]) => row({ username, last_login_at: `2026-11-20T${hour}:00:00.000Z` }));
    const oldest = view({ filters: { q: '', role: '', status: '', sort: 'last_login_at' }, loadedUpTo: ann! });
    const signIn = liveEvent('session.created', {
      data: { user_id: ann!.id, display_name: 'ann', ip: null, user_agent: null, last_login_at: '2026-11-20T06:00:00.000Z', expires_at: '2026-12-20T00:00:00Z' },
    });
    // The next page starts after ann's old time and may hold users who signed in at 04:00: ann belongs after them.
    expect(usernames(applyUserEvent({ items: [cy!, ben!, ann!], total: 40 }, signIn, oldest).rows)).toEqual(['cy', 'ben']);
    // Changed in place (not in the sort key), the last loaded row stays.
    const renamed = liveEvent('user.updated', { data: { user: { ...ann!, display_name: 'Ann B', version: 2 }, changes: {} } });
    expect(usernames(applyUserEvent({ items: [cy!, ben!, ann!], total: 40 }, renamed, oldest).rows)).toEqual(['cy', 'ben', 'ann']);
  });

  test('a further page: its rows go after the loaded ones, except one an event moved up among them', () => {
    const [ann, bob, mia, ned] = ['ann', 'bob', 'mia', 'ned'].map((username) => row({ username }));
    const zed = row({ username: 'zed', session_count: 3 });
    // The page after mia was read before zed was renamed bea; the rename reaches the page as it arrives.
    const renamed = liveEvent('user.updated', { data: { user: { ...zed, username: 'bea', version: 2 }, changes: { username: { from: 'zed', to: 'bea' } } } });
    const page = applyUserEvents({ items: [ned!, zed], total: 5 }, [renamed], view({ loadedUpTo: zed }));
    expect(usernames(page.rows)).toEqual(['bea', 'ned']);
    expect(usernames({ items: addPage([ann!, bob!, mia!], page.rows.items, view({ loadedUpTo: mia! })), total: 5 })).toEqual(['ann', 'bea', 'bob', 'mia', 'ned']);
  });

  test('events applied to a page name the users who now belong among its rows but are not in it', () => {
    const admins = view({ filters: { q: '', role: 'admin', status: '', sort: 'username' } });
    const xavier = user({ username: 'xavier', role: 'admin', version: 2 });
    const promoted = liveEvent('user.updated', { data: { user: xavier, changes: { role: { from: 'user', to: 'admin' } } } });
    const { rows, missing } = applyUserEvents({ items: [row({ username: 'ada', role: 'admin' })], total: 1 }, [promoted], admins);
    expect(missing).toEqual([xavier.id]);
    expect(rows.total).toBe(2);
  });

  test('a user the filters do not match is left out; one that stops matching goes', () => {
    const admins = view({ filters: { q: '', role: 'admin', status: '', sort: 'username' } });
    const ada = row({ username: 'ada', role: 'admin' });
    const rows = { items: [ada], total: 1 };
    expect(applyUserEvent(rows, liveEvent('user.created', { data: { user: user({ username: 'bob' }) } }), admins).rows).toBe(rows);
    const demoted = applyUserEvent(rows, liveEvent('user.updated', { data: { user: { ...ada, role: 'user', version: 2 }, changes: {} } }), admins).rows;
    expect(demoted).toEqual({ items: [], total: 0 });
  });

  test('the search matches username, display name and email, in any case', () => {
    const search = (q: string) => view({ filters: { q, role: '', status: '', sort: 'username' } });
    const grace = user({ username: 'ghopper', display_name: 'Grace Hopper', email: 'admiral@navy.example' });
    for (const q of ['GHOP', 'grace h', 'navy.example']) {
      expect(applyUserEvent({ items: [], total: 0 }, liveEvent('user.created', { data: { user: grace } }), search(q)).rows.total, q).toBe(1);
    }
    expect(applyUserEvent({ items: [], total: 0 }, liveEvent('user.created', { data: { user: grace } }), search('turing')).rows.total).toBe(0);
  });

  test('an older version than the row shown changes nothing', () => {
    const ada = row({ username: 'ada', version: 3 });
    const rows = { items: [ada], total: 1 };
    const stale = liveEvent('user.updated', { data: { user: { ...ada, display_name: 'Old name', version: 2 }, changes: {} } });
    expect(applyUserEvent(rows, stale, view()).rows).toBe(rows);
  });

  test('an update keeps the counts and re-rates the usage against a new budget', () => {
    const ada = row({ username: 'ada', token_budget: 200_000, session_count: 2, usage: { tokens: meterUsage(150_000, 200_000), minutes: meterUsage(0, null) } });
    expect(ada.usage.tokens.state).toBe('ok');
    const cut = liveEvent('user.updated', { data: { user: { ...ada, token_budget: 100_000, version: 2 }, changes: {} } });
    const [updated] = applyUserEvent({ items: [ada], total: 1 }, cut, view()).rows.items;
    expect(updated).toMatchObject({ session_count: 2, token_budget: 100_000, usage: { tokens: { used: 150_000, state: 'blocked' } } });
  });

  test('a deletion removes the row and the count; one beyond the loaded pages only the count, if it matched', () => {
    const ada = row({ username: 'ada' });
    const rows = { items: [ada], total: 7 };
    expect(applyUserEvent(rows, liveEvent('user.deleted', { target_id: ada.id, data: { user: ada } }), view()).rows).toEqual({ items: [], total: 6 });
    const beyond = user({ username: 'zed', role: 'admin' });
    expect(applyUserEvent(rows, liveEvent('user.deleted', { target_id: beyond.id, data: { user: beyond } }), view({ loadedUpTo: ada })).rows).toEqual({ items: [ada], total: 6 });
    const admins = view({ filters: { q: '', role: 'user', status: '', sort: 'username' }, loadedUpTo: ada });
    expect(applyUserEvent(rows, liveEvent('user.deleted', { target_id: beyond.id, data: { user: beyond } }), admins).rows).toBe(rows);
  });

  test('an update beyond the loaded pages changes the count only when it starts or stops matching', () => {
    const ada = row({ username: 'ada', status: 'inactive' });
    const inactive = view({ filters: { q: '', role: '', status: 'inactive', sort: 'username' }, loadedUpTo: ada });
    const rows = { items: [ada], total: 40 };
    const zed = user({ username: 'zed', status: 'inactive', version: 2 });
    const deactivated = liveEvent('user.updated', { data: { user: zed, changes: { status: { from: 'active', to: 'inactive' } } } });
    expect(applyUserEvent(rows, deactivated, inactive).rows.total).toBe(41);
    const renamed = liveEvent('user.updated', { data: { user: { ...zed, display_name: 'Zed', version: 3 }, changes: { display_name: { from: 'zed', to: 'Zed' } } } });
    expect(applyUserEvent(rows, renamed, inactive).rows).toBe(rows);
    const reactivated = liveEvent('user.updated', { data: { user: { ...zed, status: 'active', version: 4 }, changes: { status: { from: 'inactive', to: 'active' } } } });
    expect(applyUserEvent(rows, reactivated, inactive).rows.total).toBe(39);
  });

  test('counters follow sessions, API keys, usage and project totals, never below zero', () => {
    const ada = row({ username: 'ada', session_count: 1, api_key_count: 0 });
    let rows: UserRows = { items: [ada], total: 1 };
    const apply = (e: LiveEvent) => (rows = applyUserEvent(rows, e, view()).rows);
    apply(liveEvent('session.created', { data: { user_id: ada.id, display_name: 'ada', ip: null, user_agent: null, expires_at: '2026-12-27T12:00:00Z', last_login_at: '2026-11-27T12:00:00Z' } }));
    expect(rows.items[0]).toMatchObject({ session_count: 2, last_login_at: '2026-11-27T12:00:00Z' });
    apply(liveEvent('session.revoked', { data: { user_id: ada.id } }));
    apply(liveEvent('session.revoked', { data: { user_id: ada.id } }));
    apply(liveEvent('session.revoked', { data: { user_id: ada.id } }));
    expect(rows.items[0]!.session_count).toBe(0);
    apply(liveEvent('api_key.revoked', { data: { user_id: ada.id } }));
    expect(rows.items[0]!.api_key_count).toBe(0);
    apply(liveEvent('api_key.created', { data: { user_id: ada.id } }));
    expect(rows.items[0]!.api_key_count).toBe(1);
    apply(liveEvent('usage.recorded', { data: { user_id: ada.id, meter: 'minutes', amount: 5, source: null, usage: meterUsage(5, 10) } }));
    expect(rows.items[0]!.usage.minutes).toEqual(meterUsage(5, 10));
    apply(liveEvent('project.created', { data: { owners: [{ user_id: ada.id, project_count: 3, storage_bytes: 4096 }] } }));
    expect(rows.items[0]).toMatchObject({ project_count: 3, storage_bytes: 4096 });
  });
});
