import { describe, expect, test } from 'vitest';
import type { User } from '@roster/shared';
import { testId } from './testing/events';
import { UserDraft } from './user-draft.svelte';

const id = testId();
function record(fields: Partial<User> = {}): User {
  return {
    id, username: 'kim', display_name: 'Kim One', email: 'kim@example.com', role: 'user', status: 'active',
    password_change_required: false, can_share_publicly: false, two_factor_enabled: false, token_budget: null, minute_budget: null,
    version: 1, created_at: '2026-11-01T00:00:00Z', updated_at: '2026-11-01T00:00:00Z', last_login_at: null, ...fields,
  };
}
const other = 'Ada';

describe('UserDraft: edits, and changes saved by others meanwhile', () => {
  test('a second change while in conflict still names the first one', () => {
    const draft = new UserDraft();
    draft.loaded(record());
    draft.form!.email = 'kim.two@example.com';
    draft.receive(record({ version: 2, display_name: 'Kim Ada' }), other);
    expect(draft.conflict!.fields).toEqual(['display_name']);
    draft.receive(record({ version: 3, display_name: 'Kim Ada', status: 'inactive' }), 'Cy');
    // The admin is to choose between their edits and everything the others changed since them.
    expect(draft.conflict!.fields).toEqual(['display_name', 'status']);
  });

  test('the 409 of a save sent before the live change arrived still names the change', () => {
    const draft = new UserDraft();
    draft.loaded(record());
    draft.form!.email = 'kim.two@example.com';
    draft.receive(record({ version: 2, display_name: 'Kim Ada' }), other); // the event came first
    draft.conflictWith(record({ version: 2, display_name: 'Kim Ada' }), 'another admin'); // then the save's 409 and its GET
    expect(draft.conflict!.fields).toEqual(['display_name']);
  });

  test('a save answer that arrives after newer live records does not put the older record back', () => {
    const draft = new UserDraft();
    draft.loaded(record());
    draft.form!.email = 'kim.two@example.com';
    const answer = record({ version: 2, email: 'kim.two@example.com' });
    draft.receive(answer, 'Brian'); // the save's own event
    draft.receive(record({ version: 3, email: 'kim.two@example.com', display_name: 'Kim Ada' }), other); // Ada, right after
    draft.saved(answer); // the save's answer lands last
    expect(draft.user!.version).toBe(3);
    expect(draft.form!.display_name).toBe('Kim Ada');
  });
  test('Keep my edits: the next save sends only the fields edited, on the newer version; the others show the newer values', () => {
    const draft = new UserDraft();
    draft.loaded(record());
    draft.form!.email = 'kim.two@example.com';
    draft.receive(record({ version: 2, display_name: 'Kim Ada' }), other);
    expect(draft.conflict!.by).toBe('Ada');
    draft.keepMine();
    expect(draft.conflict).toBeNull();
    expect(draft.form!.display_name).toBe('Kim Ada');
    expect(draft.changes()).toEqual({ version: 2, email: 'kim.two@example.com' });
  });

  test('a sign-in changes the last sign-in shown, not the version or the edits', () => {
    const draft = new UserDraft();
    draft.loaded(record());
    draft.form!.email = 'kim.two@example.com';
    draft.signedIn('2026-11-28T10:00:00.000Z');
    expect(draft.user!.last_login_at).toBe('2026-11-28T10:00:00.000Z');
    expect(draft.changes()).toEqual({ version: 1, email: 'kim.two@example.com' });
  });
  test("this draft's own save (its event before its answer) is taken; any other change, the same admin's elsewhere too, is a conflict", () => {
    const mine = new UserDraft();
    mine.loaded(record());
    mine.form!.email = 'kim.two@example.com';
    mine.form!.token_budget = '500'; // as typed
    mine.receive(record({ version: 2, email: 'kim.two@example.com', token_budget: 500 }), 'Brian');
    expect(mine.conflict).toBeNull();
    expect(mine.dirty).toBe(false);
    const elsewhere = new UserDraft();
    elsewhere.loaded(record());
    elsewhere.form!.display_name = 'Kim Here';
    elsewhere.receive(record({ version: 2, email: 'kim.there@example.com' }), 'Brian');
    expect(elsewhere.conflict?.fields).toEqual(['email']);
    expect(elsewhere.form!.display_name).toBe('Kim Here');
  });
});
