import { z } from 'zod';
import { versionSchema } from './common.ts';
import { displayNameSchema, emailSchema, PASSWORD_MAX_LENGTH, passwordSchema, usernameSchema } from './fields.ts';
import { sessionSchema } from './sessions.ts';
import { userSchema } from './users.ts';

// Signing in, the first setup, registration, and what a signed-in person changes of their own.

export const loginRequestSchema = z.strictObject({
  login: z.string().trim().min(1, 'Enter your email or username').max(254),
  password: z.string().min(1, 'Enter your password').max(PASSWORD_MAX_LENGTH),
});
export type LoginRequest = z.infer<typeof loginRequestSchema>;

export const setupRequestSchema = z.strictObject({
  token: z.string().min(1, 'The setup token is required').max(200),
  username: usernameSchema,
  display_name: displayNameSchema,
  email: emailSchema,
  password: passwordSchema,
});
export type SetupRequest = z.infer<typeof setupRequestSchema>;

export const setupStateSchema = z.object({
  needs_setup: z.boolean(),
  registration_open: z.boolean(),
  password_min_length: z.number().int(),
  /** Whether the `can_share_publicly` flag is offered (ENABLE_PUBLIC_SHARING). */
  public_sharing: z.boolean(),
  /** Whether mail goes to a mail server (SMTP_URL); without one, mails are written to the server's log. */
  mail_configured: z.boolean(),
});
export type SetupState = z.infer<typeof setupStateSchema>;

/**
 * `session` is null when the caller authenticates with an API key. `two_factor_required_by`: staff
 * must set up two-factor sign-in by then (REQUIRE_2FA_FOR_STAFF; once past, nothing else works
 * until they have); null when it is not required of the caller or already on.
 */
export const meResponseSchema = z.object({
  user: userSchema,
  session: sessionSchema.nullable(),
  two_factor_required_by: z.iso.datetime({ offset: true }).nullable(),
});
export type MeResponse = z.infer<typeof meResponseSchema>;

export const updateMeSchema = z
  .strictObject({
    version: versionSchema.optional(),
    display_name: displayNameSchema.optional(),
    email: emailSchema.optional(),
  })
  .refine((u) => u.display_name !== undefined || u.email !== undefined, { path: ['_'], message: 'Nothing to change' });

export const changePasswordSchema = z.strictObject({
  current_password: passwordSchema,
  new_password: passwordSchema,
  /** Also end every API key of the account (the other sessions always end). */
  end_api_keys: z.boolean().default(false),
});

/** Confirms the password before a sensitive change; the session's token is replaced. */
export const reauthenticateSchema = z.strictObject({ password: z.string().min(1, 'Enter your password').max(PASSWORD_MAX_LENGTH) });
export const reauthenticatedSchema = z.object({ session: sessionSchema });

export const registerRequestSchema = z.strictObject({
  username: usernameSchema,
  display_name: displayNameSchema,
  email: emailSchema,
  password: passwordSchema,
});
