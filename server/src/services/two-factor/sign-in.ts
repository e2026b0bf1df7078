import type { Sql, TransactionSql } from 'postgres';
import type { SecondFactorRequest } from '@roster/shared';
import { consumePendingLogin, findPendingLogin, passwordCheck } from '../../auth/pending-logins.ts';
import { PASSWORD_AND_OTP, type SessionPolicy } from '../../auth/sessions.ts';
import { attemptSucceeded } from '../../auth/throttle.ts';
import { matchingStep, recoveryCodeHash } from '../../auth/totp.ts';
import { transaction } from '../../data/transaction.ts';
import type { Actor } from '../../data/locks.ts';
import type { UserRow } from '../../data/users.ts';
import { AppError } from '../../errors.ts';
import { openSession, throttle, type BrowserCookies, type ClientInfo, type SignedIn, type SignInLimits } from '../auth.ts';
import { recordEvent } from '../events.ts';

/**
 * Wrong codes an account may be sent within the sign-in window (LOGIN_WINDOW_MINUTES), whoever
 * sends them: only someone who knows the password gets this far. With three steps accepted a guess
 * has 3 chances in a million; five guesses per 15 minutes leave a month of non-stop guessing about
 * one chance in 23, and every wrong code is an audit event the owner sees live.
 */
export const SECOND_FACTOR_MAX_FAILURES = 5;

const expired = () => new AppError('unauthenticated', 'This sign-in has expired; enter your password again');

class WrongCode extends AppError {
  constructor(readonly method: 'totp' | 'recovery_code') {
    super(
      'invalid_credentials',
      method === 'totp' ? 'The code is wrong or was already used' : 'The recovery code is wrong or was already used',
      method === 'totp' ? { code: 'The code is wrong or was already used; wait for the next one' } : { recovery_code: 'This recovery code is wrong or was already used' },
    );
  }
}

/**
 * The second step of a sign-in: the pending sign-in the browser holds, and a code from the
 * authenticator app or a recovery code. The attempt is counted per account before the code is
 * checked. In one transaction, after the user is locked: the pending sign-in is deleted (it works
 * once), the code's time step must be later than the last one accepted (no code works twice: a
 * code seen over someone's shoulder is useless once they used it), a recovery code is deleted, and
 * the session is opened with `amr` `["pwd", "otp"]`. A wrong code leaves the pending sign-in for
 * another try until it expires.
 */
export async function completeSecondFactor(
  sql: Sql,
  token: string | undefined,
  request: SecondFactorRequest,
  client: ClientInfo,
  cookies: BrowserCookies,
  limits: SignInLimits,
  policy: SessionPolicy,
  now: Date,
): Promise<SignedIn> {
  const pending = await findPendingLogin(sql, token);
  if (!pending) throw expired();
  const [user] = await sql<Pick<UserRow, 'id' | 'username'>[]>`SELECT id, username FROM users WHERE id = ${pending.user_id}`;
  if (!user) throw expired();
  const attempt = await throttle(sql, [{ scope: 'second_factor', key: user.id, max: SECOND_FACTOR_MAX_FAILURES }], limits.windowMs, 'Too many wrong codes');
  const [totp] = await sql<{ secret: Uint8Array }[]>`SELECT secret FROM user_totp WHERE user_id = ${user.id} AND secret IS NOT NULL`;
  const step = request.code !== undefined && totp ? matchingStep(totp.secret, request.code, now) : null;

  const useSecondFactor = async (tx: TransactionSql, row: UserRow, actor: Actor) => {
    if (passwordCheck(row.password_hash) !== pending.password_check || !row.two_factor_enabled_at) throw expired();
    if (!(await consumePendingLogin(tx, pending.token_hash))) throw expired();
    if (request.code !== undefined) {
      if (step === null || !(await useTotpStep(tx, row.id, totp!.secret, step))) throw new WrongCode('totp');
      return;
    }
    const remaining = await useRecoveryCode(tx, row.id, request.recovery_code!);
    if (remaining === null) throw new WrongCode('recovery_code');
    recordEvent(tx, actor, {
      action: 'auth.recovery_code_used',
      targetType: 'user',
      targetId: row.id,
      targetLabel: row.username,
      data: { user_id: row.id, remaining },
    });
  };

  try {
    const signedIn = await transaction(sql, (tx) => openSession(tx, user, client, cookies, policy, { amr: PASSWORD_AND_OTP, secondFactor: useSecondFactor }));
    await attemptSucceeded(sql, attempt);
    return signedIn;
  } catch (error) {
    if (error instanceof WrongCode) await recordFailure(sql, user, client, error.method);
    throw error;
  }
}

/** Accepts a code's time step once: only a step later than the last accepted one, for the secret it was checked against. */
async function useTotpStep(tx: TransactionSql, userId: string, secret: Uint8Array, step: bigint): Promise<boolean> {
  const used = await tx`
    UPDATE user_totp SET last_used_step = ${step.toString()}
    WHERE user_id = ${userId} AND secret = ${secret} AND (last_used_step IS NULL OR last_used_step < ${step.toString()})`;
  return used.count === 1;
}

/** Uses up a recovery code; the number left, or null when it was not one of the user's. */
async function useRecoveryCode(tx: TransactionSql, userId: string, code: string): Promise<number | null> {
  const used = await tx`DELETE FROM recovery_codes WHERE user_id = ${userId} AND code_hash = ${recoveryCodeHash(code)}`;
  if (used.count !== 1) return null;
  const [left] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = ${userId}`;
  return left!.n;
}

async function recordFailure(sql: Sql, user: Pick<UserRow, 'id' | 'username'>, client: ClientInfo, method: 'totp' | 'recovery_code') {
  await transaction(sql, async (tx) => {
    recordEvent(tx, { id: user.id, label: user.username, ip: client.ip }, {
      action: 'auth.second_factor_failed',
      targetType: 'user',
      targetId: user.id,
      targetLabel: user.username,
      data: { user_id: user.id, method },
    });
  });
}
