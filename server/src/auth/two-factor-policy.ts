import type { Sql } from 'postgres';
import { staffRoles, type Role, type User } from '@roster/shared';
import type { Config } from '../config.ts';

// Whether two-factor sign-in is required of someone (REQUIRE_2FA_FOR_STAFF), and from when. Staff
// without it get a grace period (REQUIRE_2FA_GRACE_DAYS) that starts at their first request once
// it applies to them (the first sign-in, or the first use of a session or key they already hold),
// so turning the setting on never locks anyone out at once. Until it ends they are asked to set it
// up after signing in and may go on; after it, every route but setting it up, confirming the
// password and signing out answers `two_factor_setup_required`, the live channel refuses them,
// and neither applications nor forward authentication take them as signed in.

export interface TwoFactorPolicy {
  requiredForStaff: boolean;
  graceMs: number;
}

export function twoFactorPolicy(config: Config): TwoFactorPolicy {
  return { requiredForStaff: config.REQUIRE_2FA_FOR_STAFF, graceMs: config.REQUIRE_2FA_GRACE_DAYS * 24 * 60 * 60 * 1000 };
}

/** Whether `user` must set up two-factor sign-in: staff without it while the setting is on. */
export function mustSetUpTwoFactor(policy: TwoFactorPolicy, user: Pick<User, 'role' | 'two_factor_enabled'>): boolean {
  return policy.requiredForStaff && (staffRoles as readonly Role[]).includes(user.role) && !user.two_factor_enabled;
}

/**
 * When `user` must have two-factor sign-in, or null when it is not required of them (or is on).
 * The grace period starts here when it has not yet: once, in one statement, whoever asks first.
 */
export async function twoFactorRequiredBy(
  sql: Sql,
  policy: TwoFactorPolicy,
  user: Pick<User, 'id' | 'role' | 'two_factor_enabled'>,
  dueAt: Date | null,
): Promise<Date | null> {
  if (!mustSetUpTwoFactor(policy, user)) {
    // Not (or no longer) asked of them: demoted, turned on, or the setting off. A grace period
    // started before is forgotten, so being asked again later starts a new one, never an expired one.
    // Checked again on the row, so a concurrent change that makes it due (an admin's reset) stands.
    if (dueAt) {
      await sql`
        UPDATE users SET two_factor_due_at = NULL
        WHERE id = ${user.id} AND (NOT ${policy.requiredForStaff} OR role <> ALL(${[...staffRoles]}::text[]) OR two_factor_enabled_at IS NOT NULL)`;
    }
    return null;
  }
  if (dueAt) return dueAt;
  const [row] = await sql<{ due: Date }[]>`
    UPDATE users SET two_factor_due_at = coalesce(two_factor_due_at, now() + ${policy.graceMs} * interval '1 millisecond')
    WHERE id = ${user.id} RETURNING two_factor_due_at AS due`;
  return row?.due ?? null;
}

/** Whether the grace period is over: nothing but setting it up goes on. */
export function twoFactorOverdue(requiredBy: Date | null, now = new Date()): boolean {
  return requiredBy !== null && requiredBy.getTime() <= now.getTime();
}

/**
 * The same verdict for a user read with their stored due date, without starting a grace period:
 * for the live channel and the OpenID provider, which follow what the HTTP API decided.
 */
export function twoFactorOverdueFor(policy: TwoFactorPolicy, user: Pick<User, 'role' | 'two_factor_enabled'>, dueAt: Date | null): boolean {
  return mustSetUpTwoFactor(policy, user) && twoFactorOverdue(dueAt);
}
