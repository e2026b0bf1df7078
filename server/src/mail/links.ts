import { randomBytes } from 'node:crypto';
import type { Mailer } from './transport.ts';

/** What a service that mails needs: where mails go, and the console's public origin for links. */
export interface MailDeps {
  mailer: Mailer;
  origin: string;
  /** How long a password reset link works (PASSWORD_RESET_MINUTES). */
  resetMinutes: number;
}

/** A link's secret: 256 random bits; only its SHA-256 is stored (auth/tokens.ts). */
export function newLinkToken(): string {
  return randomBytes(32).toString('base64url');
}

/** A console page's link carrying the token in its #fragment, which browsers never send to a server. */
export function linkTo(origin: string, page: 'invitation' | 'reset-password', token: string): string {
  return `${origin}/${page}#token=${token}`;
}
