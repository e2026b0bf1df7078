import type { Sql, TransactionSql } from 'postgres';
import type { LinkPreview } from '@roster/shared';
import { checkPasswordPolicy } from '../../auth/password-policy.ts';
import { hashPassword } from '../../auth/passwords.ts';
import type { SessionPolicy } from '../../auth/sessions.ts';
import { sha256Hex } from '../../auth/tokens.ts';
import { lockForWrite, type Actor } from '../../data/locks.ts';
import { afterCommit, transaction } from '../../data/transaction.ts';
import type { UserRow } from '../../data/users.ts';
import { AppError } from '../../errors.ts';
import { linkTo, newLinkToken, type MailDeps } from '../../mail/links.ts';
import { passwordChangedMail, passwordResetMail } from '../../mail/templates.ts';
import { endApplicationSessions } from '../../oidc/logout.ts';
import { openSession, throttle, type BrowserCookies, type ClientInfo, type LoginOutcome } from '../auth.ts';
import { createPendingLogin } from '../../auth/pending-logins.ts';
import { recordEvent } from '../events.ts';
import { invalidLink } from '../invitations.ts';
import { setPassword } from './passwords.ts';

// Password recovery by mail (issue 16, ASVS 6.4.1–6.4.3): "Forgot your password?" and an admin's
// "send a reset link". One link per account (a new one replaces the old), single use, valid for
// PASSWORD_RESET_MINUTES; following it ends every session, API key and trusted browser.

export interface ResetLimits {
  perAddress: number;
  perIp: number;
}

const HOUR_MS = 60 * 60 * 1000;

/** Makes (or replaces) the user's link in `tx` and mails it once the transaction commits. */
async function issueResetLink(tx: TransactionSql, actor: Actor, user: UserRow, mail: MailDeps, byAdmin: boolean) {
  const token = newLinkToken();
  const [link] = await tx<{ expires_at: Date }[]>`
    INSERT INTO password_resets (user_id, token_hash, expires_at)
    VALUES (${user.id}, ${sha256Hex(token)}, now() + ${mail.resetMinutes} * interval '1 minute')
    ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = now(), expires_at = excluded.expires_at
    RETURNING expires_at`;
  recordEvent(tx, actor, {
    action: 'password_reset.requested',
    targetType: 'user',
    targetId: user.id,
    targetLabel: user.username,
    data: { user_id: user.id, by_admin: byAdmin, expires_at: link!.expires_at.toISOString() },
  });
  afterCommit(tx, () =>
    mail.mailer.deliver(
      passwordResetMail({
        to: user.email,
        displayName: user.display_name,
        username: user.username,
        origin: mail.origin,
        link: linkTo(mail.origin, 'reset-password', token),
        minutes: mail.resetMinutes,
      }),
    ),
  );
}

/**
 * "Forgot your password?". The answer is the same whether or not the address has an account, and
 * the mail goes out after the answer, so neither its content nor its timing tells. Requests are
 * counted per address typed (so one inbox is not flooded) and per client IP (so addresses cannot
 * be probed in bulk), whether or not the address exists.
 */
export async function requestPasswordReset(sql: Sql, email: string, ip: string | null, limits: ResetLimits, mail: MailDeps): Promise<void> {
  // The address lower-cased the way the database compares it (citext), like sign-in's keys.
  const [typed] = await sql<{ key: string }[]>`SELECT lower(${email}::citext::text) AS key`;
  await throttle(
    sql,
    [{ scope: 'reset_address', key: typed!.key, max: limits.perAddress }, ...(ip ? [{ scope: 'reset_ip' as const, key: ip, max: limits.perIp }] : [])],
    HOUR_MS,
    'Too many reset requests',
  );
  await transaction(sql, async (tx) => {
    const actor: Actor = { id: null, label: email, ip };
    await lockForWrite(tx, actor);
    // Deactivated accounts get nothing: they could not sign in with a new password anyway.
    const [user] = await tx<UserRow[]>`SELECT * FROM users WHERE email = ${email} AND status = 'active' FOR UPDATE`;
    if (user) await issueResetLink(tx, actor, user, mail, false);
  });
}

/** An admin mails the user a reset link instead of choosing a password for them; the current one keeps working until the link is used. */
export async function sendPasswordReset(sql: Sql, actor: Actor, id: string, mail: MailDeps): Promise<void> {
  await transaction(sql, async (tx) => {
    const { users } = await lockForWrite(tx, actor, { change: [id] });
    const user = users.get(id);
    if (!user) throw new AppError('not_found', 'No such user');
    if (user.status !== 'active') throw new AppError('validation_failed', 'The account is deactivated: reactivate it first, or the link would not let them in', { status: 'Inactive' });
    await issueResetLink(tx, actor, user, mail, true);
  });
}

async function findReset(sql: Sql | TransactionSql, token: string): Promise<(UserRow & { link_expires_at: Date }) | undefined> {
  const [row] = await sql<(UserRow & { link_expires_at: Date })[]>`
    SELECT u.*, r.expires_at AS link_expires_at FROM password_resets r JOIN users u ON u.id = r.user_id
    WHERE r.token_hash = ${sha256Hex(token)} AND r.expires_at > now() AND u.status = 'active'`;
  return row;
}

export async function previewPasswordReset(sql: Sql, token: string): Promise<LinkPreview> {
  const user = await findReset(sql, token);
  if (!user) throw invalidLink('reset');
  return { username: user.username, display_name: user.display_name, email: user.email, expires_at: user.link_expires_at.toISOString() };
}

/**
 * Following a reset link, in one transaction: the new password is set and the link used up, every
 * session, API key, trusted browser and application sign-in of the account ends, and this browser
 * is signed in; after the commit the owner is told by mail. With two-factor sign-in on, it stays on (ASVS 6.4.3): the
 * link proves the mailbox, not the second factor, so the browser gets the sign-in's code step (a
 * pending sign-in) instead of a session.
 */
export async function completePasswordReset(
  sql: Sql,
  request: { token: string; password: string },
  client: ClientInfo,
  cookies: BrowserCookies,
  policy: SessionPolicy,
  passwordMinLength: number,
  mail: MailDeps,
): Promise<LoginOutcome> {
  const found = await findReset(sql, request.token);
  if (!found) throw invalidLink('reset');
  checkPasswordPolicy(request.password, passwordMinLength, found);
  const passwordHash = await hashPassword(request.password);
  return transaction(sql, async (tx) => {
    const actor: Actor = { id: found.id, label: found.username, ip: client.ip };
    const { users } = await lockForWrite(tx, actor, { change: [found.id] });
    const [link] = await tx`DELETE FROM password_resets WHERE user_id = ${found.id} AND token_hash = ${sha256Hex(request.token)} AND expires_at > now() RETURNING 1`;
    const row = users.get(found.id);
    if (!link || !row || row.status !== 'active') throw invalidLink('reset');
    const updated = await setPassword(tx, actor, row, passwordHash, {
      sessions: true,
      credentials: true,
      devices: true,
      temporary: false,
      reason: 'password_reset',
      viaLink: true,
    });
    await endApplicationSessions(tx, { accountId: row.id }, 'password_reset');
    afterCommit(tx, () => mail.mailer.deliver(passwordChangedMail({ to: row.email, displayName: row.display_name, username: row.username, origin: mail.origin, how: 'link' })));
    if (updated.two_factor_enabled) return { pending: await createPendingLogin(tx, updated.id, passwordHash) };
    return { signedIn: await openSession(tx, updated, client, cookies, policy) };
  });
}
