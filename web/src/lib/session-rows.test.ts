import { describe, expect, test } from 'vitest';
import type { SessionEntry } from '@roster/shared';
import { applySessionEvent, type SessionFilters } from './session-rows';
import { liveEvent, testId } from './testing/events';

const everything: SessionFilters = { q: '', online: '', ip: '', agent: '' };

function entry(fields: Partial<SessionEntry> = {}): SessionEntry {
  const userId = fields.user_id ?? testId();
  return {
    id: testId(),
    user_id: userId,
    created_at: '2026-11-27T10:00:00Z',
    last_seen_at: '2026-11-27T10:00:00Z',
    authenticated_at: '2026-11-27T10:00:00Z',
    expires_at: '2026-12-27T10:00:00Z',
    ip: '192.0.2.1',
    user_agent: 'Firefox',
    amr: ['pwd'],
    user: { id: userId, username: 'ada', display_name: 'Ada Lovelace' },
    applications: [],
    online: true,
    current: false,
    ...fields,
  };
}

const began = (fields: { id?: string; username?: string; user_agent?: string | null } = {}) =>
  liveEvent('session.created', {
    target_id: fields.id ?? testId(),
    target_label: fields.username ?? 'grace',
    data: { user_id: testId(), display_name: 'Grace Hopper', email: 'admiral@navy.example', ip: '198.51.100.7', user_agent: 'user_agent' in fields ? (fields.user_agent ?? null) : 'Chrome', expires_at: '2026-12-27T12:00:00Z' },
  });

describe('applySessionEvent: the sessions list kept current by the live feed', () => {
  test('a session that begins goes first, offline, and is flashed', () => {
    const items = [entry()];
    const event = began();
    const { items: next, flash } = applySessionEvent(items, event, everything);
    expect(next).toHaveLength(2);
    expect(next[0]).toMatchObject({ id: event.target_id, online: false, current: false, ip: '198.51.100.7', user: { username: 'grace', display_name: 'Grace Hopper' } });
    expect(flash).toBe(event.target_id);
  });

  test('a session already listed, or with no id, is not added twice', () => {
    const known = entry();
    const items = [known];
    expect(applySessionEvent(items, began({ id: known.id }), everything).items).toBe(items);
    expect(applySessionEvent(items, liveEvent('session.created', { target_id: null }), everything).items).toBe(items);
  });

  test('filters: by person (name or email) and agent here; "online" and addresses are left to the next reload', () => {
    const fits = (filters: Partial<SessionFilters>, event = began()) => applySessionEvent([], event, { ...everything, ...filters }).items.length === 1;
    expect(fits({ q: 'GRACE H' })).toBe(true);
    expect(fits({ q: 'turing' })).toBe(false);
    expect(fits({ q: 'navy.example' })).toBe(true);
    expect(fits({ agent: 'chrome' })).toBe(true);
    expect(fits({ agent: 'safari' })).toBe(false);
    expect(fits({ agent: 'chrome' }, began({ user_agent: null }))).toBe(false);
    expect(fits({ online: 'false' })).toBe(true);
    expect(fits({ online: 'true' })).toBe(false);
    expect(fits({ ip: '198.51.100.0/24' })).toBe(false);
  });

  test('an ended session goes; signing everyone out keeps only the session kept; a deleted user\'s sessions go', () => {
    const ada = entry();
    const adaAgain = entry({ user_id: ada.user_id });
    const bob = entry();
    const items = [ada, adaAgain, bob];
    expect(applySessionEvent(items, liveEvent('session.revoked', { target_id: ada.id }), everything).items).toEqual([adaAgain, bob]);
    expect(applySessionEvent(items, liveEvent('session.revoked_all', { data: { count: 3, kept_session_id: bob.id } }), everything).items).toEqual([bob]);
    expect(applySessionEvent(items, liveEvent('session.revoked_all', { data: { count: 3, kept_session_id: null } }), everything).items).toEqual([]);
    expect(applySessionEvent(items, liveEvent('user.deleted', { target_id: ada.user_id }), everything).items).toEqual([bob]);
  });

  test('applications signed in to are listed by name, and go when signed out of or removed', () => {
    const app = testId();
    const session = entry({ applications: [{ id: testId(), name: 'Wiki' }] });
    let items = [session, entry()];
    items = applySessionEvent(items, liveEvent('application.signed_in', { target_id: app, target_label: 'Dashboards', data: { session_id: session.id } }), everything).items;
    expect(items[0]!.applications.map((a) => a.name)).toEqual(['Dashboards', 'Wiki']);
    expect(items[1]!.applications).toEqual([]);
    items = applySessionEvent(items, liveEvent('application.updated', { target_id: app, target_label: 'Boards', data: { ended_sign_ins: false } }), everything).items;
    expect(items[0]!.applications.map((a) => a.name)).toEqual(['Boards', 'Wiki']);
    items = applySessionEvent(items, liveEvent('application.signed_out', { target_id: app, data: { session_id: null, user_id: session.user_id } }), everything).items;
    expect(items[0]!.applications.map((a) => a.name)).toEqual(['Wiki']);
  });

  test("a renamed person's sessions show the new name", () => {
    const ada = entry();
    const other = entry();
    const renamed = liveEvent('user.updated', { data: { user: { id: ada.user_id, username: 'ada', display_name: 'Ada King' } as never, changes: {} } });
    const { items } = applySessionEvent([ada, other], renamed, everything);
    expect(items.map((s) => s.user.display_name)).toEqual(['Ada King', 'Ada Lovelace']);
    const stranger = liveEvent('user.updated', { data: { user: { id: testId(), username: 'x', display_name: 'X' } as never, changes: {} } });
    const same = [ada];
    expect(applySessionEvent(same, stranger, everything).items).toBe(same);
  });

  test('events about something else leave the list as it is', () => {
    const items = [entry()];
    expect(applySessionEvent(items, liveEvent('user.password_reset', {}), everything).items).toBe(items);
  });
});
