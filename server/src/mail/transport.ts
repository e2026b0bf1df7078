import { createTransport } from 'nodemailer';
import type { MailTemplate } from '@roster/shared';
import type { Logger } from '../logger.ts';

// Where mails go: the SMTP server of SMTP_URL, or, without one, the server's log, so that a first
// run (and a developer's machine) can follow an invitation or reset link without a mail server.

export interface OutgoingMail {
  /** Which of Roster's mails (templates.ts). */
  template: MailTemplate;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /** Mails go to a mail server (SMTP_URL), not to the log. */
  readonly configured: boolean;
  /** Hands the mail over; rejects when the server is unreachable or refuses it. */
  send(mail: OutgoingMail): Promise<void>;
  /** Sends in the background: a failure is logged and reported (`onFailure`), never thrown (see docs/operations.md). */
  deliver(mail: OutgoingMail): void;
  close(): void;
}

/** The sender when MAIL_FROM is unset: noreply@ the public URL's host. */
export function defaultSender(publicOrigin: string): string {
  return `Roster <noreply@${new URL(publicOrigin).hostname}>`;
}

export function createMailer(options: { smtpUrl?: string; from: string; log: Logger; onFailure?: (mail: OutgoingMail, error: unknown) => void }): Mailer {
  const { smtpUrl, from, log, onFailure } = options;
  const withDelivery = (mailer: Omit<Mailer, 'deliver'>): Mailer => ({
    ...mailer,
    deliver: (mail) => {
      mailer.send(mail).catch((error: unknown) => {
        log.error({ mail: { to: mail.to, subject: mail.subject }, err: error }, 'a mail could not be sent');
        onFailure?.(mail, error);
      });
    },
  });
  if (!smtpUrl) {
    return withDelivery({
      configured: false,
      send: async (mail) => {
        // Warn, so it shows at the default log level: the mail's links are how people get in.
        log.warn({ mail: { to: mail.to, subject: mail.subject }, text: mail.text }, 'mail is not configured (SMTP_URL is unset), so this mail is written here instead of sent');
      },
      close: () => undefined,
    });
  }
  // Timeouts well below nodemailer's defaults (minutes): a mail server that hangs delays one
  // delivery round, which retries later, and never holds a shutdown. SMTP_URL's query may override them.
  const transport = createTransport({ url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 }, { from });
  return withDelivery({
    configured: true,
    send: async (mail) => {
      await transport.sendMail({ to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
    close: () => transport.close(),
  });
}
