import { can, type Capability, type MeResponse, type SetupState, type User } from '@roster/shared';
import { api } from './api';

/** Who is signed in, loaded once by the app layout and kept current by the live feed. */
class CurrentSession {
  me = $state<MeResponse | null>(null);
  /** Deployment settings the console adapts to (password length, public sharing). */
  settings = $state<SetupState | null>(null);

  get user(): User | null {
    return this.me?.user ?? null;
  }

  async load(): Promise<MeResponse> {
    const [me, settings] = await Promise.all([api('GET /auth/me'), api('GET /setup')]);
    this.me = me;
    this.settings = settings;
    return me;
  }

  /** Where the console opens: the users table for staff, the account page for everyone else. */
  get home(): string {
    return this.can('users.read') ? '/users' : '/account';
  }

  can(capability: Capability): boolean {
    return this.user ? can(this.user.role, capability) : false;
  }

  /**
   * Staff must set up two-factor sign-in by this time (REQUIRE_2FA_FOR_STAFF); null when it is not
   * asked of the signed-in user or is on. Once past, the console only offers setting it up.
   */
  get twoFactorRequiredBy(): string | null {
    return this.me?.two_factor_required_by ?? null;
  }

  twoFactorOverdue(now = Date.now()): boolean {
    const due = this.twoFactorRequiredBy;
    return due !== null && Date.parse(due) <= now;
  }

  /** Two-factor sign-in was turned on here: nothing is required any more. */
  twoFactorSetUp() {
    if (this.me) this.me = { ...this.me, two_factor_required_by: null };
  }

  /** Applies a change to the signed-in user (from the live feed or a save). */
  update(user: User) {
    if (!this.me || user.id !== this.me.user.id || user.version < this.me.user.version) return;
    const roleChanged = user.role !== this.me.user.role;
    this.me = { ...this.me, user };
    // Whether two-factor sign-in is required of them, and by when, follows the role; the server
    // works it out (and starts or forgets the grace period), so it is asked again.
    if (!roleChanged) return;
    void api('GET /auth/me').then(
      // Two role changes in a row: an answer overtaken by the other keeps the newer user.
      (me) => {
        if (this.me && me.user.version >= this.me.user.version) this.me = me;
      },
      () => undefined,
    );
  }
}

export const session = new CurrentSession();
