import { z } from 'zod';

// The fields several domains share: roles and statuses, the parts of a person's identity, passwords.

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

/**
 * Shape only: the minimum length is deployment configuration (`PASSWORD_MIN_LENGTH`), checked by
 * the server's password policy, which the console learns from `GET /setup`.
 */
export const passwordSchema = z
  .string({ error: 'Password must be text' })
  .min(1, 'Password is required')
  .max(PASSWORD_MAX_LENGTH, `Password must be at most ${PASSWORD_MAX_LENGTH} characters`);

/** A user named in another record: who owns a project, whose session it is. */
export const userRefSchema = z.object({ id: z.uuid(), username: z.string(), display_name: z.string() });
export type UserRef = z.infer<typeof userRefSchema>;
