import type { Sql, TransactionSql } from 'postgres';
import {
  duplicateRows,
  INVITATION_DAYS,
  invitationImportOutcomes,
  invitationImportRowSchema,
  type InvitationImportRequest,
  type InvitationImportResult,
  type InvitationImportRowResult,
} from '@roster/shared';
import { sha256Hex } from '../auth/tokens.ts';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { newLinkToken, type MailDeps } from '../mail/links.ts';
import { recordEvent } from './events.ts';
import { mailInvitation, toInvitationDto, type InvitationRow } from './invitations.ts';

// Bulk invitations from a CSV file (docs/csv.md, "Invite by e-mail"): the console sends the mapped
// rows a chunk at a time, as for the user import; each chunk is one transaction that makes an
// invitation per new row (one `invitation.created` event each), and the mails go out once it
// commits. A dry run answers the same results from the same checks, writing nothing.

type Row = { username: string; email: string; display_name?: string; role?: 'admin' | 'moderator' | 'user' };

export async function importInvitations(sql: Sql, actor: Actor, request: InvitationImportRequest, mail: MailDeps): Promise<InvitationImportResult> {
  const duplicates = duplicateRows(request.rows);
  const valid: { index: number; row: Row }[] = [];
  const invalid: InvitationImportRowResult[] = [];
  request.rows.forEach((cells, index) => {
    const parsed = invitationImportRowSchema.safeParse(cells);
    const errors: Record<string, string> = { ...duplicates.get(index) };
    if (!parsed.success) for (const issue of parsed.error.issues) errors[String(issue.path[0] ?? '_')] ??= issue.message;
    if (parsed.success && Object.keys(errors).length === 0) valid.push({ index, row: parsed.data });
    else invalid.push({ index, outcome: 'failed', errors });
  });
  const results = await (request.dry_run
    ? (sql.begin('READ ONLY', (tx) => planChunk(tx, valid)).then(({ results, invites }) => [
        ...results,
        ...invites.map(({ index }) => ({ index, outcome: 'invited' as const })),
      ]) as Promise<InvitationImportRowResult[]>)
    : transaction(sql, (tx) => inviteChunk(tx, actor, valid, mail)));
  const all = [...results, ...invalid].sort((a, b) => a.index - b.index);
  const counts = Object.fromEntries(invitationImportOutcomes.map((o) => [o, all.filter((r) => r.outcome === o).length]));
  return { dry_run: request.dry_run, counts: counts as InvitationImportResult['counts'], results: all };
}

/**
 * The checks of inviting one person, for a chunk: a username with an account or a pending
 * invitation is skipped; an email that an account or another invitation has fails the row.
 */
async function planChunk(tx: TransactionSql, valid: { index: number; row: Row }[]) {
  const results: InvitationImportRowResult[] = [];
  const invites: { index: number; row: Row }[] = [];
  if (valid.length === 0) return { results, invites };
  const usernames = valid.map(({ row }) => row.username);
  const emails = valid.map(({ row }) => row.email);
  const taken = await tx<{ kind: 'user' | 'invitation'; id: string; username: string; email: string }[]>`
    SELECT 'user' AS kind, id, username::text, email::text FROM users
    WHERE username = ANY(${usernames}::citext[]) OR email = ANY(${emails}::citext[])
    UNION ALL
    SELECT 'invitation', id, username::text, email::text FROM invitations
    WHERE username = ANY(${usernames}::citext[]) OR email = ANY(${emails}::citext[])`;
  const byUsername = new Map(taken.map((t) => [t.username.toLowerCase(), t]));
  const byEmail = new Map(taken.map((t) => [t.email.toLowerCase(), t]));
  for (const { index, row } of valid) {
    const existing = byUsername.get(row.username.toLowerCase());
    if (existing) {
      results.push({ index, outcome: 'skipped', ...(existing.kind === 'user' ? { user_id: existing.id } : { invitation_id: existing.id }) });
      continue;
    }
    const owner = byEmail.get(row.email.toLowerCase());
    if (owner) {
      results.push({ index, outcome: 'failed', errors: { email: owner.kind === 'user' ? 'Already in use by another user' : `Already invited as ${owner.username}` } });
      continue;
    }
    invites.push({ index, row });
  }
  return { results, invites };
}

async function inviteChunk(tx: TransactionSql, actor: Actor, valid: { index: number; row: Row }[], mail: MailDeps): Promise<InvitationImportRowResult[]> {
  await lockForWrite(tx, actor);
  const { results, invites } = await planChunk(tx, valid);
  if (invites.length === 0) return results;
  const tokens = new Map(invites.map(({ row }) => [row.username.toLowerCase(), newLinkToken()]));
  const values = invites.map(({ row }) => ({
    username: row.username,
    display_name: row.display_name ?? row.username,
    email: row.email,
    role: row.role ?? 'user',
    token_hash: sha256Hex(tokens.get(row.username.toLowerCase())!),
  }));
  // A username or email invited by a concurrent chunk since the plan: that row is not invited
  // twice (the unique indexes decide), the others are.
  const inserted = await tx<InvitationRow[]>`
    INSERT INTO invitations (username, display_name, email, role, token_hash, created_by_id, created_by_label, expires_at)
    SELECT r.username, r.display_name, r.email, r.role, r.token_hash, ${actor.id}::uuid, ${actor.label}, now() + ${INVITATION_DAYS} * interval '1 day'
    FROM jsonb_to_recordset(${tx.json(values)}) AS r(username citext, display_name text, email citext, role text, token_hash text)
    ON CONFLICT DO NOTHING
    RETURNING *`;
  const byUsername = new Map(inserted.map((row) => [row.username.toLowerCase(), row]));
  for (const { index, row } of invites) {
    const created = byUsername.get(row.username.toLowerCase());
    if (!created) {
      results.push({ index, outcome: 'failed', errors: { _: 'An invitation with this username or email was made meanwhile' } });
      continue;
    }
    const invitation = toInvitationDto(created);
    recordEvent(tx, actor, { action: 'invitation.created', targetType: 'invitation', targetId: created.id, targetLabel: created.username, data: { invitation } });
    mailInvitation(tx, mail, created, tokens.get(row.username.toLowerCase())!);
    results.push({ index, outcome: 'invited', invitation_id: created.id });
  }
  return results;
}
