import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * A real SMTP server in the test process: Roster sends to it over SMTP (SMTP_URL), and tests read
 * what arrived, parsed the way a mail client would.
 */
export async function mailServer() {
  const received: ReceivedMail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Addresses at refused.example are refused, as a mail server refuses an unknown mailbox.
    onRcptTo(address, _session, callback) {
      if (address.address.endsWith('@refused.example')) return callback(Object.assign(new Error('5.1.1 No such mailbox'), { responseCode: 550 }));
      callback();
    },
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
          received.push({ from: mail.from?.text ?? '', to: to?.text ?? '', subject: mail.subject ?? '', text: mail.text ?? '', html: typeof mail.html === 'string' ? mail.html : '' });
          for (const wake of waiters.splice(0)) wake();
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    /**
     * The next mail to `to` (with `subject`, if given) that arrives, or has arrived and was not
     * taken yet, within `timeoutMs`.
     */
    async next(to: string, subject?: string, timeoutMs = 5000): Promise<ReceivedMail> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = received.findIndex((mail) => mail.to.toLowerCase() === to.toLowerCase() && (subject === undefined || mail.subject === subject));
        if (index >= 0) return received.splice(index, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(timer), resolve()));
        });
      }
    },
    /** Mails that arrived for `to` (with `subject`, if given) and were not taken, after waiting `settleMs` for stragglers. */
    async pending(to: string, subject?: string, settleMs = 300): Promise<ReceivedMail[]> {
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      return received.filter((mail) => mail.to.toLowerCase() === to.toLowerCase() && (subject === undefined || mail.subject === subject));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The token of the link in a mail (`…/invitation#token=…`). */
export function linkToken(mail: ReceivedMail): string {
  const match = mail.text.match(/#token=([\w-]+)/);
  if (!match) throw new Error(`no link in the mail "${mail.subject}"`);
  return match[1]!;
}
