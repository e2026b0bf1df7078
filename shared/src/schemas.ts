import { z } from 'zod';

export const roles = ['admin', 'moderator', 'user'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

export const userStatuses = ['active', 'inactive'] as const;
export const userStatusSchema = z.enum(userStatuses);
export type UserStatus = z.infer<typeof userStatusSchema>;

export const PASSWORD_MAX_LENGTH = 256;

export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(3, 'Username must be at least 3 characters')
  .max(50, 'Username must be at most 50 characters')
  .regex(/^[a-z0-9._-]+$/, 'Username may contain only letters, digits, dots, dashes and underscores');

export const emailSchema = z
  .string()
  .trim()
  .max(254, 'Email must be at most 254 characters')
  .pipe(z.email('Email is not a valid address'));

export const displayNameSchema = z
  .string()
  .trim()
  .min(1, 'Display name is required')
  .max(100, 'Display name must be at most 100 characters');

/** The minimum length is deployment configuration (`PASSWORD_MIN_LENGTH`), so the schema is built from it. */
export function passwordSchema(minLength: number) {
  return z
    .string()
    .min(minLength, `Password must be at least ${minLength} characters`)
    .max(PASSWORD_MAX_LENGTH, `Password must be at most ${PASSWORD_MAX_LENGTH} characters`);
}

export const loginRequestSchema = z.strictObject({
  login: z.string().trim().min(1, 'Enter your email or username').max(254),
  password: z.string().min(1, 'Enter your password').max(PASSWORD_MAX_LENGTH),
});
export type LoginRequest = z.infer<typeof loginRequestSchema>;

export function setupRequestSchema(passwordMinLength: number) {
  return z.strictObject({
    token: z.string().min(1, 'The setup token is required').max(200),
    username: usernameSchema,
    display_name: displayNameSchema,
    email: emailSchema,
    password: passwordSchema(passwordMinLength),
  });
}
export type SetupRequest = z.infer<ReturnType<typeof setupRequestSchema>>;

export const setupStateSchema = z.object({
  needs_setup: z.boolean(),
  registration_open: z.boolean(),
  password_min_length: z.number().int(),
});
export type SetupState = z.infer<typeof setupStateSchema>;

export const userSchema = z.object({
  id: z.uuid(),
  username: z.string(),
  display_name: z.string(),
  email: z.string(),
  role: roleSchema,
  status: userStatusSchema,
  can_share_publicly: z.boolean(),
  version: z.number().int(),
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }),
  last_login_at: z.iso.datetime({ offset: true }).nullable(),
});
export type User = z.infer<typeof userSchema>;

export const sessionSchema = z.object({
  id: z.string(),
  user_id: z.uuid(),
  created_at: z.iso.datetime({ offset: true }),
  expires_at: z.iso.datetime({ offset: true }),
  last_seen_at: z.iso.datetime({ offset: true }),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
});
export type Session = z.infer<typeof sessionSchema>;

export const meResponseSchema = z.object({ user: userSchema, session: sessionSchema });
export type MeResponse = z.infer<typeof meResponseSchema>;
