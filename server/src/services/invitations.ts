import type { Sql, TransactionSql } from 'postgres';
import { INVITATION_DAYS, type Invitation, type InvitationList, type InviteUserRequest, type LinkPreview } from '@roster/shared';
import { checkPasswordPolicy } from '../auth/password-policy.ts';
import { hashPassword } from '../auth/passwords.ts';
import type { SessionPolicy } from '../auth/sessions.ts';
import { sha256Hex } from '../auth/tokens.ts';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { afterCommit, transaction } from '../data/transaction.ts';
import { AppError } from '../errors.ts';
import { linkTo, newLinkToken, type MailDeps } from '../mail/links.ts';
import { invitationMail } from '../mail/templates.ts';
import { openSession, type BrowserCookies, type ClientInfo, type SignedIn } from './auth.ts';
import { readWithSeq, recordEvent } from './events.ts';
import { insertUser } from './users/changes.ts';

// Invitations (issue 16): the invitation holds the profile, and the account is created only when
// the invited person follows the link and chooses a password. So an account without a password
// never exists, and revoking leaves nothing behind.

export interface InvitationRow {
  id: string;
  username: string;
  display_name: string;
  email: string;
  role: Invitation['role'];
  token_hash: string;
  created_by_label: string | null;
  created_at: Date;
  sent_at: Date;
  expires_at: Date;
}

export function toInvitationDto(row: InvitationRow): Invitation {
  return {
    id: row.id,
    username: row.username,
    display_name: row.display_name,
    email: row.email,
    role: row.role,
    invited_by: row.created_by_label,
    created_at: row.created_at.toISOString(),
    sent_at: row.sent_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
  };
}

export const invalidLink = (what: 'invitation' | 'reset') =>
  new AppError(
    'invalid_link',
    what === 'invitation'
      ? 'This invitation link does not work any more: it was used, replaced by a newer one, revoked, or it expired. Ask an administrator to send a new one.'
      : 'This reset link does not work any more: it was used, replaced by a newer one, or it expired. Ask for a new one.',
  );

export function mailInvitation(tx: TransactionSql, mail: MailDeps, row: InvitationRow, token: string) {
  afterCommit(tx, () =>
    mail.mailer.deliver(
      invitationMail({
        to: row.email,
        displayName: row.display_name,
        invitedBy: row.created_by_label,
        origin: mail.origin,
        link: linkTo(mail.origin, 'invitation', token),
        days: INVITATION_DAYS,
      }),
    ),
  );
}

/** An invitation's username and email must be free among users (pending invitations have unique ones too). */
async function assertFree(tx: TransactionSql, request: Pick<InviteUserRequest, 'username' | 'email'>) {
  const [taken] = await tx<{ username: boolean; email: boolean }[]>`
    SELECT bool_or(username = ${request.username}) AS username, bool_or(email = ${request.email}) AS email
    FROM users WHERE username = ${request.username} OR email = ${request.email}`;
  if (taken?.username) throw new AppError('username_taken', 'That username is taken', { username: 'Already taken' });
  if (taken?.email) throw new AppError('email_taken', 'That email is already in use', { email: 'Already in use' });
}

export async function inviteUser(sql: Sql, actor: Actor, request: InviteUserRequest, mail: MailDeps): Promise<Invitation> {
  const token = newLinkToken();
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    await assertFree(tx, request);
    const [row] = await tx<InvitationRow[]>`
      INSERT INTO invitations (username, display_name, email, role, token_hash, created_by_id, created_by_label, expires_at)
      VALUES (${request.username}, ${request.display_name}, ${request.email}, ${request.role}, ${sha256Hex(token)},
              ${actor.id}, ${actor.label}, now() + ${INVITATION_DAYS} * interval '1 day')
      ON CONFLICT DO NOTHING
      RETURNING *`;
    if (!row) {
      const [pending] = await tx<{ username: string }[]>`SELECT username FROM invitations WHERE username = ${request.username}`;
      if (pending) throw new AppError('username_taken', 'An invitation for that username is pending', { username: 'Already invited' });
      throw new AppError('email_taken', 'An invitation for that email is pending', { email: 'Already invited' });
    }
    const invitation = toInvitationDto(row);
    recordEvent(tx, actor, { action: 'invitation.created', targetType: 'invitation', targetId: row.id, targetLabel: row.username, data: { invitation } });
    mailInvitation(tx, mail, row, token);
    return invitation;
  });
}

/** Pending invitations, newest first; expired ones too (they can be resent). */
export async function listInvitations(sql: Sql): Promise<InvitationList> {
  // By the time as the console has it (milliseconds), then id, so an invitation arriving live lands where a reload puts it.
  const { result: rows, seq } = await readWithSeq(sql, (tx) => tx<InvitationRow[]>`SELECT * FROM invitations ORDER BY date_trunc('milliseconds', created_at) DESC, id`);
  return { items: rows.map(toInvitationDto), seq };
}

/** A new link, valid for another INVITATION_DAYS; the previous link stops working in the same commit. */
export async function resendInvitation(sql: Sql, actor: Actor, id: string, mail: MailDeps): Promise<Invitation> {
  const token = newLinkToken();
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    const [row] = await tx<InvitationRow[]>`
      UPDATE invitations SET token_hash = ${sha256Hex(token)}, sent_at = now(), expires_at = now() + ${INVITATION_DAYS} * interval '1 day',
                             created_by_id = ${actor.id}, created_by_label = ${actor.label}
      WHERE id = ${id} RETURNING *`;
    if (!row) throw new AppError('not_found', 'No such invitation: it was accepted or revoked');
    const invitation = toInvitationDto(row);
    recordEvent(tx, actor, { action: 'invitation.resent', targetType: 'invitation', targetId: row.id, targetLabel: row.username, data: { invitation } });
    mailInvitation(tx, mail, row, token);
    return invitation;
  });
}

export async function revokeInvitation(sql: Sql, actor: Actor, id: string): Promise<void> {
  await transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    const [row] = await tx<InvitationRow[]>`DELETE FROM invitations WHERE id = ${id} RETURNING *`;
    if (!row) throw new AppError('not_found', 'No such invitation: it was accepted or revoked');
    recordEvent(tx, actor, { action: 'invitation.revoked', targetType: 'invitation', targetId: row.id, targetLabel: row.username, data: { invitation: toInvitationDto(row) } });
  });
}

async function findByToken(sql: Sql | TransactionSql, token: string, lock = false): Promise<InvitationRow | undefined> {
  const [row] = lock
    ? await sql<InvitationRow[]>`SELECT * FROM invitations WHERE token_hash = ${sha256Hex(token)} AND expires_at > now() FOR UPDATE`
    : await sql<InvitationRow[]>`SELECT * FROM invitations WHERE token_hash = ${sha256Hex(token)} AND expires_at > now()`;
  return row;
}

/** Who a link is for, so its page can greet them; the same answer for every link that does not work. */
export async function previewInvitation(sql: Sql, token: string): Promise<LinkPreview> {
  const row = await findByToken(sql, token);
  if (!row) throw invalidLink('invitation');
  return { username: row.username, display_name: row.display_name, email: row.email, expires_at: row.expires_at.toISOString() };
}

/**
 * Accepting: the account is created with the chosen password, the link is used up and the browser
 * is signed in, in one transaction (two tabs accepting at once: one wins, the other's link no
 * longer works; a failure at any step leaves the invitation as it was).
 */
export async function acceptInvitation(
  sql: Sql,
  request: { token: string; password: string },
  client: ClientInfo,
  cookies: BrowserCookies,
  policy: SessionPolicy,
  passwordMinLength: number,
): Promise<SignedIn> {
  const found = await findByToken(sql, request.token);
  if (!found) throw invalidLink('invitation');
  checkPasswordPolicy(request.password, passwordMinLength, found);
  const passwordHash = await hashPassword(request.password);
  return transaction(sql, async (tx) => {
    const actor: Actor = { id: null, label: found.username, ip: client.ip };
    await lockForWrite(tx, actor);
    const row = await findByToken(tx, request.token, true);
    if (!row) throw invalidLink('invitation');
    await tx`DELETE FROM invitations WHERE id = ${row.id}`;
    // Taken since the invitation (registration, an admin, an import): the invitation cannot be kept.
    await assertFree(tx, row).catch((error: unknown) => {
      throw new AppError('invalid_link', `This invitation cannot be accepted: ${error instanceof AppError ? error.message.toLowerCase() : 'its account exists'}. Ask an administrator for a new one.`);
    });
    const user = await insertUser(tx, actor, { username: row.username, display_name: row.display_name, email: row.email, role: row.role, passwordHash });
    recordEvent(tx, { ...actor, id: user.id }, {
      action: 'invitation.accepted',
      targetType: 'invitation',
      targetId: row.id,
      targetLabel: row.username,
      data: { invitation: toInvitationDto(row), user_id: user.id },
    });
    return openSession(tx, user, client, cookies, policy);
  });
}
