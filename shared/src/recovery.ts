import { z } from 'zod';
import { emailSchema } from './schemas.ts';

// Password recovery by mail: "Forgot your password?" on the sign-in page, and an admin's "send a
// reset link". The link (single use, PASSWORD_RESET_MINUTES) lets the person choose a new
// password; following it ends every session and API key of the account and signs them in. The
// link's own schemas (token, preview, new password) are the invitation's (invitations.ts).

/** "Forgot your password?": the answer is the same whether or not the address has an account. */
export const passwordResetRequestSchema = z.strictObject({ email: emailSchema });

/** The mails Roster sends (server/src/mail/templates.ts). */
export const mailTemplates = ['invitation', 'password_reset', 'password_changed', 'new_sign_in', 'account_changed', 'failed_sign_ins'] as const;
export const mailTemplateSchema = z.enum(mailTemplates);
export type MailTemplate = z.infer<typeof mailTemplateSchema>;
