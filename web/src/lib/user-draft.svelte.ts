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

/**
 * A user open in the panel: the latest record, the edits over it and the version they are based on.
 * A newer record saved by someone else while there are edits overwrites nothing: it becomes a
 * conflict that names what they changed, and the admin reloads theirs or keeps their own.
 */
export class UserDraft {
  user = $state<User | null>(null);
  form = $state<Editable | null>(null);
  /** The version the edits are based on; saves send it. */
  baseVersion = $state(0);
  conflict = $state<Conflict | null>(null);
  /** A record from the live feed that came while the panel's own was on its way: it may be newer. */
  private early: User | null = null;
  readonly dirty = $derived(Boolean(this.user && this.form && editable.some((f) => this.form![f] !== this.user![f])));

  /** Starts over from `latest`: no edits, no conflict. */
  take(latest: User) {
    const { username, display_name, email, role, status, can_share_publicly, token_budget, minute_budget } = latest;
    this.user = latest;
    this.form = { username, display_name, email, role, status, can_share_publicly, token_budget, minute_budget };
    this.baseVersion = latest.version;
    this.conflict = null;
  }

  /** The panel opens (again): it holds nothing until its record arrives, so nothing older than that is taken. */
  reset() {
    this.user = null;
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

  /** A record from the live feed, saved by `by`: taken when newer, unless that would overwrite someone else's edits. */
  receive(latest: User, by: { label: string | null; isSelf: boolean }) {
    if (this.user?.id !== latest.id) {
      // Not loaded yet (or still another user's): kept for `loaded`.
      if (this.early?.id !== latest.id || latest.version > this.early.version) this.early = latest;
      return;
    }
    if (latest.version <= this.user.version) return;
    if (!this.dirty || by.isSelf) return this.take(latest);
    this.conflictWith(latest, by.label ?? 'someone');
  }

  conflictWith(latest: User, by: string) {
    this.conflict = { by, fields: editable.filter((f) => this.user?.[f] !== latest[f]), latest };
    this.user = latest;
  }

  /** The admin has seen the other change and chooses their own values: the next save goes on top of it. */
  keepMine() {
    if (this.conflict) this.baseVersion = this.conflict.latest.version;
    this.conflict = null;
  }

  /** The edited fields with the version they are based on: what a save sends. */
  changes(): Record<string, unknown> {
    const { user, form } = this;
    if (!user || !form) return {};
    return { version: this.baseVersion, ...Object.fromEntries(editable.filter((f) => form[f] !== user[f]).map((f) => [f, form[f]])) };
  }
}
