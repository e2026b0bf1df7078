import type { MailTemplate } from '@roster/shared';
import type { OutgoingMail } from './transport.ts';

// The mails Roster sends, in plain text and in simple HTML. Every value that came from a person
// (names) is escaped in the HTML part; links carry their token in the #fragment, so it never
// reaches a server log or a Referer header.

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function mail(template: MailTemplate, to: string, subject: string, paragraphs: string[], link?: { url: string; label: string }): OutgoingMail {
  const text = [...paragraphs.slice(0, 2), ...(link ? [link.url] : []), ...paragraphs.slice(2)].join('\n\n') + '\n';
  const html = [
    ...paragraphs.slice(0, 2).map((p) => `<p>${escapeHtml(p)}</p>`),
    ...(link ? [`<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`] : []),
    ...paragraphs.slice(2).map((p) => `<p>${escapeHtml(p)}</p>`),
  ].join('\n');
  return { template, to, subject, text, html: `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${html}</body></html>` };
}

export function invitationMail(input: { to: string; displayName: string; invitedBy: string | null; origin: string; link: string; days: number }): OutgoingMail {
  const who = input.invitedBy ? `${input.invitedBy} invited you` : 'You are invited';
  return mail(
    'invitation',
    input.to,
    'You are invited to Roster',
    [
      `Hello ${input.displayName},`,
      `${who} to Roster at ${input.origin}. Follow this link to choose your password and sign in:`,
      `The link works once, for ${input.days} days. If you did not expect this invitation, ignore this mail.`,
    ],
    { url: input.link, label: 'Accept the invitation' },
  );
}

export function passwordResetMail(input: { to: string; displayName: string; username: string; origin: string; link: string; minutes: number }): OutgoingMail {
  return mail(
    'password_reset',
    input.to,
    'Reset your Roster password',
    [
      `Hello ${input.displayName},`,
      `Someone asked to reset the password of your Roster account ${input.username} at ${input.origin}. Follow this link to choose a new one:`,
      `The link works once, for ${input.minutes} minutes. Choosing a new password signs you out everywhere else. If you did not ask for this, ignore this mail: your password stays as it is.`,
    ],
    { url: input.link, label: 'Choose a new password' },
  );
}

export function passwordChangedMail(input: { to: string; displayName: string; username: string; origin: string; how: 'self' | 'admin' | 'link' }): OutgoingMail {
  const how = {
    self: 'You changed it on your account page.',
    admin: 'An administrator set a temporary one; you will choose your own at your next sign-in.',
    link: 'It was changed with a reset link sent to this address.',
  }[input.how];
  return mail('password_changed', input.to, 'Your Roster password was changed', [
    `Hello ${input.displayName},`,
    `The password of your Roster account ${input.username} at ${input.origin} was changed. ${how}`,
    `If this was not you, contact your administrator at once.`,
  ]);
}

/** ASVS 6.3.5: a sign-in from a browser the account has not used before (no device cookie for it). */
export function newSignInMail(input: { to: string; displayName: string; username: string; origin: string; at: Date; ip: string | null; userAgent: string | null }): OutgoingMail {
  const where = [input.userAgent ? `Browser: ${input.userAgent.slice(0, 200)}` : null, input.ip ? `Address: ${input.ip}` : null].filter(Boolean).join('. ');
  return mail('new_sign_in', input.to, 'New sign-in to your Roster account', [
    `Hello ${input.displayName},`,
    `Your Roster account ${input.username} at ${input.origin} was signed in to from a browser it had not used before, at ${input.at.toISOString().replace('T', ' ').slice(0, 16)} UTC. ${where}`.trim(),
    `If this was you, there is nothing to do. If not, change your password at once (or use "Forgot your password?" on the sign-in page): that signs everyone else out.`,
  ]);
}

/** What changed on an account, for the notice its owner gets (ASVS 6.3.7). */
export type AccountChange =
  | { kind: 'email'; newEmail: string }
  | { kind: 'username'; newUsername: string }
  | { kind: 'two_factor_enabled' | 'two_factor_replaced' | 'two_factor_disabled' | 'two_factor_reset' | 'recovery_codes' };

/** ASVS 6.3.7: a change to how the account signs in; an address change goes to the old address. */
export function accountChangedMail(input: { to: string; displayName: string; username: string; origin: string; change: AccountChange }): OutgoingMail {
  return mail('account_changed', input.to, 'Your Roster account was changed', [
    `Hello ${input.displayName},`,
    `Your Roster account ${input.username} at ${input.origin} was changed. ${describeChange(input.change)}`,
    `If this was not you, contact your administrator at once.`,
  ]);
}

function describeChange(change: AccountChange): string {
  switch (change.kind) {
    case 'email':
      return `Its e-mail address was changed to ${maskAddress(change.newEmail)}; this address hears no more about it.`;
    case 'username':
      return `Its username was changed to ${change.newUsername}; sign in with the new one.`;
    case 'two_factor_enabled':
      return 'Two-factor sign-in was turned on: signing in now also asks for a code from an authenticator app.';
    case 'two_factor_replaced':
      return 'Its authenticator app was replaced: codes from the previous one no longer work.';
    case 'two_factor_disabled':
      return 'Two-factor sign-in was turned off: the password alone now signs in.';
    case 'two_factor_reset':
      return 'An administrator removed its two-factor sign-in and signed it out everywhere. Set up an authenticator again on your account page.';
    case 'recovery_codes':
      return 'New recovery codes were made: the previous ones no longer work.';
  }
}

/** Many wrong passwords for the account's login name: sign-ins by that name now wait (ASVS 6.3.5). */
export function failedSignInsMail(input: { to: string; displayName: string; username: string; origin: string; attempts: number; minutes: number }): OutgoingMail {
  return mail('failed_sign_ins', input.to, 'Failed sign-ins to your Roster account', [
    `Hello ${input.displayName},`,
    `Someone typed a wrong password for your Roster account ${input.username} at ${input.origin} ${input.attempts} times within ${input.minutes} minutes, so sign-ins with that name wait a while. A browser you signed in with before can still sign in.`,
    `If this was you, there is nothing to do. If not, your password held; choosing a longer one makes guessing harder still.`,
  ]);
}

/** a***@example.com: enough for the owner to recognise, not a new address handed to whoever reads the old one. */
function maskAddress(email: string): string {
  const at = email.lastIndexOf('@');
  return at <= 0 ? '***' : `${email[0]}***${email.slice(at)}`;
}
