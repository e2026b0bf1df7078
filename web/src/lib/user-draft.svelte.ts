import type { User } from '@roster/shared';

/** The fields the user panel edits. Budgets hold what was typed until it is saved: a number, null (unlimited), or text the form refuses. */
export type Editable = Pick<User, 'username' | 'display_name' | 'email' | 'role' | 'status' | 'can_share_publicly'> & {
  token_budget: number | string | null;
  minute_budget: number | string | null;
};
export const editable = ['username', 'display_name', 'email', 'role', 'status', 'can_share_publicly', 'token_budget', 'minute_budget'] as const;

/** A newer version saved by someone else while the form had edits, with the fields they changed. */
export interface Conflict {
  by: string;
  fields: (keyof Editable)[];
  latest: User;
}

/** The editable fields of a record, as the form holds them. */
function fieldsOf(user: User): Editable {
  const { username, display_name, email, role, status, can_share_publicly, token_budget, minute_budget } = user;
  return { username, display_name, email, role, status, can_share_publicly, token_budget, minute_budget };
}

/**
 * A user open in the panel: the latest record, the edits and the record they are based on. A newer
 * record saved by someone else while there are edits overwrites nothing: it becomes a conflict that
 * names what they changed, and the admin reloads theirs or keeps their own edits on top of it.
 */
export class UserDraft {
  /** The latest record. */
  user = $state<User | null>(null);
  form = $state<Editable | null>(null);
  /** The record the edits are based on: what a field is compared with to tell whether it was edited; saves send its version. */
  private base = $state<User | null>(null);
  conflict = $state<Conflict | null>(null);
  /** A record from the live feed that came while the panel's own was on its way: it may be newer. */
  private early: User | null = null;
  readonly dirty = $derived(this.edited().length > 0);

  /** Starts over from `latest`: no edits, no conflict. */
  take(latest: User) {
    this.user = latest;
    this.base = latest;
    this.form = fieldsOf(latest);
    this.conflict = null;
  }

  /** The panel opens (again): it holds nothing until its record arrives, so nothing older than that is taken. */
  reset() {
    this.user = null;
    this.base = null;
    this.form = null;
    this.conflict = null;
    this.early = null;
  }

  /** The panel's own record arrived: it starts from it, or from a newer one the live feed brought meanwhile. */
  loaded(record: User) {
    const early = this.early?.id === record.id && this.early.version > record.version ? this.early : null;
    this.early = null;
    this.take(early ?? record);
  }

  /**
   * A record from the live feed, saved by `by`: taken when newer, unless that would overwrite edits.
   * The save of these very edits (its event may come before its answer) overwrites nothing; any
   * other change, even one the same admin made elsewhere, is a conflict.
   */
  receive(latest: User, by: string | null) {
    if (this.user?.id !== latest.id) {
      // Not loaded yet (or still another user's): kept for `loaded`.
      if (this.early?.id !== latest.id || latest.version > this.early.version) this.early = latest;
      return;
    }
    if (latest.version <= this.user.version) return;
    if (!this.dirty || this.holds(latest)) return this.take(latest);
    this.conflictWith(latest, by ?? 'someone');
  }

  /** Whether the form holds `record`'s values (budgets as typed: "500" holds 500, "" holds none). */
  private holds(record: User): boolean {
    const { form } = this;
    return form !== null && editable.every((f) => form[f] === record[f] || String(form[f] ?? '') === String(record[f] ?? ''));
  }

  /**
   * A newer record than the edits are based on, saved by `by`, while there are edits: the conflict
   * names every field changed since the edits began (a second change adds to the first). A record
   * already known (the 409 of a save that crossed its event) changes nothing.
   */
  conflictWith(latest: User, by: string) {
    if (this.user && latest.version <= this.user.version && this.conflict) return;
    this.conflict = { by, fields: editable.filter((f) => this.base?.[f] !== latest[f]), latest };
    this.user = latest;
  }

  /** A save's answer: the edits are saved. A newer record that came meanwhile (someone's change right after) is kept. */
  saved(answer: User) {
    this.take(this.user && this.user.version > answer.version ? this.user : answer);
  }

  /** The user signed in: their last sign-in changes, not their version. */
  signedIn(at: string) {
    if (this.user && (this.user.last_login_at ?? '') < at) this.user = { ...this.user, last_login_at: at };
  }

  /**
   * The admin has seen the other change and keeps their edits on top of it: the fields they edited
   * keep their values, the others take the newer record's, and the next save sends only theirs.
   */
  keepMine() {
    if (!this.conflict || !this.form) return;
    const { latest } = this.conflict;
    const mine = Object.fromEntries(this.edited().map((f) => [f, this.form![f]]));
    this.base = latest;
    this.form = { ...fieldsOf(latest), ...mine };
    this.conflict = null;
  }

  /** The fields edited since the record the edits are based on. */
  private edited(): (keyof Editable)[] {
    const { base, form } = this;
    return base && form ? editable.filter((f) => form[f] !== base[f]) : [];
  }

  /** The edited fields with the version they are based on: what a save sends. */
  changes(): Record<string, unknown> {
    const { base, form } = this;
    if (!base || !form) return {};
    return { version: base.version, ...Object.fromEntries(this.edited().map((f) => [f, form[f]])) };
  }
}
