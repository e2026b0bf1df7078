import type { Sql, TransactionSql } from 'postgres';
import type { RecoveryCodeSet, TotpEnrolment, TwoFactorStatus, User } from '@roster/shared';
import { generateRecoveryCodes, generateTotpSecret, matchingStep, secretForTyping, totpUri } from '../../auth/totp.ts';
import { mustSetUpTwoFactor, type TwoFactorPolicy } from '../../auth/two-factor-policy.ts';
import { lockForWrite, type Actor } from '../../data/locks.ts';
import { transaction } from '../../data/transaction.ts';
import { toUserDto, type UserRow } from '../../data/users.ts';
import { AppError } from '../../errors.ts';
import type { MailDeps } from '../../mail/links.ts';
import { noticeAfterCommit } from '../../mail/notices.ts';
import { endApplicationSessions } from '../../oidc/logout.ts';
import { recordEvent } from '../events.ts';
import { revokeSessions } from '../sessions.ts';

// Setting up, changing and ending one's own two-factor sign-in, and an admin's reset of someone
// else's. Every change to one's own needs a password confirmed within REAUTH_MINUTES on a browser
// session (ASVS 7.5.1): a stolen cookie alone cannot turn it off or read new recovery codes.

const notOn = () => new AppError('not_found', 'Two-factor sign-in is not on');

export async function twoFactorStatus(sql: Sql, userId: string, policy: { required: boolean; requiredBy: Date | null }): Promise<TwoFactorStatus> {
  const [row] = await sql<{ enabled_at: Date | null; left: number; code_set: string | null }[]>`
    SELECT two_factor_enabled_at AS enabled_at, codes.left, codes.code_set
    FROM users, LATERAL (SELECT count(*)::int AS left, max(code_set) AS code_set FROM recovery_codes WHERE user_id = users.id) codes
    WHERE id = ${userId}`;
  if (!row) throw new AppError('not_found', 'No such user');
  return {
    enabled: row.enabled_at !== null,
    enabled_at: row.enabled_at?.toISOString() ?? null,
    recovery_codes_left: row.left,
    recovery_codes_set: row.code_set === null ? null : Number(row.code_set),
    required: policy.required,
    required_by: policy.requiredBy?.toISOString() ?? null,
  };
}

/**
 * A new authenticator secret for the user to scan or type in. Nothing changes yet: the secret is
 * kept as pending until a first code confirms it (an existing one goes on working until then), so
 * a QR code scanned wrongly never locks anyone out. Starting again replaces the pending secret.
 */
export async function startTotpEnrolment(sql: Sql, actor: Actor, publicOrigin: string): Promise<TotpEnrolment> {
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [actor.id!], recentAuth: true });
    const user = users.get(actor.id!)!;
    const secret = generateTotpSecret();
    const [pending] = await tx<{ id: string }[]>`
      INSERT INTO user_totp (user_id, pending_secret, pending_since, pending_id) VALUES (${user.id}, ${Buffer.from(secret)}, now(), gen_random_uuid())
      ON CONFLICT (user_id) DO UPDATE SET pending_secret = excluded.pending_secret, pending_since = excluded.pending_since, pending_id = excluded.pending_id
      RETURNING pending_id AS id`;
    return { id: pending!.id, secret: secretForTyping(secret), uri: totpUri(secret, user.username, publicOrigin) };
  });
}

/**
 * Confirms the pending secret with a code from the app: two-factor sign-in is on (or the new
 * authenticator replaces the old one), with ten new recovery codes, returned only here. The code's
 * time step counts as used, so it cannot sign in too. `enrolmentId`, the enrolment the code is
 * for, tells a code for an enrolment replaced or confirmed elsewhere (another tab) from a wrong one.
 */
export async function confirmTotpEnrolment(
  sql: Sql,
  actor: Actor,
  { code, enrolmentId }: { code: string; enrolmentId?: string },
  now: Date,
  mail?: MailDeps,
): Promise<{ user: User; recoveryCodes: RecoveryCodeSet }> {
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [actor.id!], recentAuth: true });
    const row = users.get(actor.id!)!;
    const [totp] = await tx<{ pending_secret: Uint8Array | null; pending_id: string | null }[]>`
      SELECT pending_secret, pending_id FROM user_totp WHERE user_id = ${row.id} FOR UPDATE`;
    if (enrolmentId !== undefined && totp?.pending_id !== enrolmentId) {
      if (totp?.pending_secret) throw new AppError('two_factor_setup_replaced', 'Setting up was started again in another tab or browser, so this key no longer works: start over');
      if (row.two_factor_enabled_at) throw new AppError('two_factor_set_up_elsewhere', 'Two-factor sign-in was set up in another tab or browser meanwhile; this key was not used');
    }
    if (!totp?.pending_secret) throw new AppError('not_found', 'Start setting up two-factor sign-in first: no authenticator is waiting to be confirmed');
    const step = matchingStep(totp.pending_secret, code, now);
    if (step === null) {
      throw new AppError('validation_failed', 'Some fields are invalid', { code: 'The code is wrong; check that your phone shows the time correctly, and type the current one' });
    }
    await tx`
      UPDATE user_totp SET secret = pending_secret, last_used_step = ${step.toString()}, pending_secret = NULL, pending_since = NULL, pending_id = NULL
      WHERE user_id = ${row.id}`;
    const recoveryCodes = await replaceRecoveryCodes(tx, row.id);
    // Sign-ins halfway through were checking the old authenticator.
    await tx`DELETE FROM pending_logins WHERE user_id = ${row.id}`;
    const user = await setEnabled(tx, row.id, true);
    recordEvent(tx, actor, {
      action: 'user.two_factor_enabled',
      targetType: 'user',
      targetId: user.id,
      targetLabel: user.username,
      data: { user, replaced: row.two_factor_enabled_at !== null },
      version: user.version,
    });
    noticeAfterCommit(tx, mail, row, { kind: row.two_factor_enabled_at ? 'two_factor_replaced' : 'two_factor_enabled' });
    return { user, recoveryCodes };
  });
}

/** New recovery codes, shown once; the old ones stop working. */
export async function regenerateRecoveryCodes(sql: Sql, actor: Actor, mail?: MailDeps): Promise<RecoveryCodeSet> {
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [actor.id!], recentAuth: true });
    const row = users.get(actor.id!)!;
    if (!row.two_factor_enabled_at) throw notOn();
    const codes = await replaceRecoveryCodes(tx, row.id);
    recordEvent(tx, actor, {
      action: 'user.recovery_codes_regenerated',
      targetType: 'user',
      targetId: row.id,
      targetLabel: row.username,
      data: { user_id: row.id, recovery_codes_set: codes.recovery_codes_set },
    });
    noticeAfterCommit(tx, mail, row, { kind: 'recovery_codes' });
    return codes;
  });
}

/**
 * Turns one's own two-factor sign-in off. Staff who must have it (REQUIRE_2FA_FOR_STAFF) cannot:
 * they replace their authenticator instead, which leaves no moment without one.
 */
export async function disableTwoFactor(sql: Sql, actor: Actor, policy: TwoFactorPolicy, mail?: MailDeps): Promise<User> {
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [actor.id!], recentAuth: true });
    const row = users.get(actor.id!)!;
    if (!row.two_factor_enabled_at) throw notOn();
    if (mustSetUpTwoFactor(policy, { role: row.role, two_factor_enabled: false })) {
      throw new AppError('forbidden', 'Your role requires two-factor sign-in; set up a new authenticator instead of turning it off');
    }
    await removeSecondFactor(tx, row.id);
    const user = await setEnabled(tx, row.id, false);
    recordEvent(tx, actor, {
      action: 'user.two_factor_disabled',
      targetType: 'user',
      targetId: user.id,
      targetLabel: user.username,
      data: { user },
      version: user.version,
    });
    noticeAfterCommit(tx, mail, row, { kind: 'two_factor_disabled' });
    return user;
  });
}

/**
 * An admin removes someone's second factor (a lost phone, no recovery codes left): their
 * authenticator and recovery codes go, and so do their sessions and what applications hold for
 * them, since those may have been opened with the lost factor. They sign in with their password
 * and set it up again; staff who must have it get no new grace period. One's own is turned off on
 * one's account page, after confirming the password.
 */
export async function resetTwoFactor(sql: Sql, actor: Actor, id: string, policy: TwoFactorPolicy, mail?: MailDeps): Promise<User> {
  if (actor.id !== null && actor.id === id) {
    throw new AppError('self_action', 'Turn your own two-factor sign-in off on your account page');
  }
  return transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [id] });
    const row = users.get(id);
    if (!row) throw new AppError('not_found', 'No such user');
    if (!row.two_factor_enabled_at) throw new AppError('not_found', `@${row.username} has not set up two-factor sign-in`);
    await removeSecondFactor(tx, id);
    const user = await setEnabled(tx, id, false, { dueNow: mustSetUpTwoFactor(policy, { role: row.role, two_factor_enabled: false }) });
    const ended = await revokeSessions(tx, actor, { userId: id }, 'two_factor_reset');
    await endApplicationSessions(tx, { accountId: id }, 'two_factor_reset');
    recordEvent(tx, actor, {
      action: 'user.two_factor_reset',
      targetType: 'user',
      targetId: id,
      targetLabel: user.username,
      data: { user, sessions_ended: ended },
      version: user.version,
    });
    noticeAfterCommit(tx, mail, row, { kind: 'two_factor_reset' });
    return user;
  });
}

/** A new set of recovery codes in place of the user's current one, numbered above every set before it. */
async function replaceRecoveryCodes(tx: TransactionSql, userId: string): Promise<RecoveryCodeSet> {
  const { codes, hashes } = generateRecoveryCodes();
  const [next] = await tx<{ code_set: string }[]>`SELECT nextval('recovery_code_sets') AS code_set`;
  const codeSet = next!.code_set;
  await tx`DELETE FROM recovery_codes WHERE user_id = ${userId}`;
  await tx`INSERT INTO recovery_codes ${tx(hashes.map((code_hash) => ({ user_id: userId, code_hash, code_set: codeSet })))}`;
  return { recovery_codes: codes, recovery_codes_set: Number(codeSet) };
}

async function removeSecondFactor(tx: TransactionSql, userId: string) {
  await tx`DELETE FROM user_totp WHERE user_id = ${userId}`;
  await tx`DELETE FROM recovery_codes WHERE user_id = ${userId}`;
  await tx`DELETE FROM pending_logins WHERE user_id = ${userId}`;
}

/** Records the change on the user (a new version, so every open table and drawer takes it). */
async function setEnabled(tx: TransactionSql, userId: string, enabled: boolean, options: { dueNow?: boolean } = {}): Promise<User> {
  const [row] = await tx<UserRow[]>`
    UPDATE users SET two_factor_enabled_at = ${enabled ? tx`now()` : null},
                     two_factor_due_at = ${options.dueNow ? tx`now()` : tx`two_factor_due_at`},
                     version = version + 1, updated_at = now()
    WHERE id = ${userId} RETURNING *`;
  return toUserDto(row!);
}
