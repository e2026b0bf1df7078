import type { Sql } from 'postgres';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import type { OutgoingMail } from '../mail/transport.ts';
import { recordEvent } from './events.ts';

const mailActor: Actor = { id: null, label: 'Roster', ip: null };

/** A mail that could not be sent goes to the audit log, so admins see it (live) and can act. */
export async function recordMailFailure(sql: Sql, mail: OutgoingMail, error: unknown): Promise<void> {
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
  await transaction(sql, async (tx) => {
    await lockForWrite(tx, mailActor);
    recordEvent(tx, mailActor, {
      action: 'mail.failed',
      targetType: 'mail',
      targetId: null,
      targetLabel: mail.to,
      data: { template: mail.template, to: mail.to, subject: mail.subject, error: message },
    });
  });
}
