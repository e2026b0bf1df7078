import type { TransactionSql } from 'postgres';
import { afterCommit } from '../data/transaction.ts';
import type { MailDeps } from './links.ts';
import { accountChangedMail, type AccountChange } from './templates.ts';

/**
 * Tells an account's owner what changed in how it signs in (ASVS 6.3.7), once the change has
 * committed: a change that rolls back mails nothing. `to` defaults to the account's address; an
 * address change is told to the old one.
 */
export function noticeAfterCommit(
  tx: TransactionSql,
  mail: MailDeps | undefined,
  account: { email: string; display_name: string; username: string },
  change: AccountChange,
): void {
  if (!mail) return;
  const notice = accountChangedMail({ to: account.email, displayName: account.display_name, username: account.username, origin: mail.origin, change });
  afterCommit(tx, () => mail.mailer.deliver(notice));
}
