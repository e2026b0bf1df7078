import { z } from 'zod';
import { apiKeySchema } from './api-keys.ts';
import { isObjectPayload, pageSeqSchema, versionSchema } from './common.ts';
import { displayNameSchema, emailSchema, passwordSchema, roleSchema, usernameSchema, userStatusSchema } from './fields.ts';
import { sessionSchema } from './sessions.ts';
import { meterUsageSchema, minuteBudgetSchema, tokenBudgetSchema } from './usage.ts';

export const userSchema = z.object({
  id: z.uuid(),
  username: z.string(),
  display_name: z.string(),
  email: z.string(),
  role: roleSchema,
  status: userStatusSchema,
  /** The password was set by an admin or generated: the user must choose their own before anything else. */
  password_change_required: z.boolean(),
  can_share_publicly: z.boolean(),
  /** Signing in needs a code from an authenticator app (or a recovery code) after the password. */
  two_factor_enabled: z.boolean(),
  token_budget: z.number().int().nullable(),
  minute_budget: z.number().int().nullable(),
  version: z.number().int(),
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }),
  last_login_at: z.iso.datetime({ offset: true }).nullable(),
});
export type User = z.infer<typeof userSchema>;

/** One user: what reads, updates, sign-ins and password changes answer. */
export const userResponseSchema = z.object({ user: userSchema });

export const userSorts = [
  'username',
  '-username',
  'email',
  '-email',
  'created_at',
  '-created_at',
  'last_login_at',
  '-last_login_at',
] as const;
export type UserSort = (typeof userSorts)[number];

export const userListQuerySchema = z.strictObject({
  q: z.string().trim().max(100, 'Search text must be at most 100 characters').optional(),
  role: roleSchema.optional(),
  status: userStatusSchema.optional(),
  /** One user's row, if it matches the other filters: a row that moved into a loaded list from beyond it. */
  id: z.uuid().optional(),
  /** A field name, `-` in front for descending. Newest first by default. */
  sort: z.enum(userSorts).default('-created_at'),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type UserListQuery = z.infer<typeof userListQuerySchema>;

export const userListItemSchema = userSchema.extend({
  /** Unexpired sessions of the user. */
  session_count: z.number().int(),
  /** Projects the user owns. */
  project_count: z.number().int(),
  /** Bytes in the projects the user owns. */
  storage_bytes: z.number().int(),
  api_key_count: z.number().int(),
  /** This month's use of each meter against the budget. */
  usage: z.object({ tokens: meterUsageSchema, minutes: meterUsageSchema }),
});
export type UserListItem = z.infer<typeof userListItemSchema>;

export const userListSchema = z.object({
  items: z.array(userListItemSchema),
  next_cursor: z.string().nullable(),
  /** How many users match the filters: exact up to 10,000, an estimate beyond (`total_is_estimate`). */
  total: z.number().int(),
  total_is_estimate: z.boolean(),
  /** The newest live event the page and its count reflect. */
  seq: pageSeqSchema,
});
export type UserList = z.infer<typeof userListSchema>;

export const userStatsSchema = z.object({
  total: z.number().int(),
  active: z.number().int(),
  inactive: z.number().int(),
  admins: z.number().int(),
  moderators: z.number().int(),
  users: z.number().int(),
  /** Users with at least one live connection now. */
  online: z.number().int(),
  /** Unexpired sessions. */
  sessions: z.number().int(),
  /**
   * The newest live event the counts reflect: pushes can arrive out of order (from two nodes, or a
   * page's own read against a push), and the console keeps the counts with the highest.
   */
  seq: pageSeqSchema,
});
export type UserStats = z.infer<typeof userStatsSchema>;

export const createUserSchema = z
  .strictObject({
    username: usernameSchema,
    display_name: displayNameSchema,
    email: emailSchema,
    role: roleSchema.default('user'),
    can_share_publicly: z.boolean().default(false),
    token_budget: tokenBudgetSchema.default(null),
    minute_budget: minuteBudgetSchema.default(null),
    password: passwordSchema.optional(),
    generate_password: z.boolean().optional(),
  })
  .refine((u) => (u.password === undefined) === (u.generate_password === true), {
    path: ['password'],
    message: 'Give a password or set generate_password, not both',
    when: isObjectPayload,
  });
export type CreateUserRequest = z.infer<typeof createUserSchema>;

/** A new user, with the password when it was generated (shown once). */
export const createdUserSchema = userResponseSchema.extend({ generated_password: z.string().optional() });

/** Everything Roster holds about a user (no secrets), as the export downloads it. */
export const userExportSchema = z.object({
  exported_at: z.iso.datetime({ offset: true }),
  user: userSchema,
  sessions: z.array(sessionSchema.pick({ id: true, created_at: true, expires_at: true, last_seen_at: true, ip: true, user_agent: true, amr: true })),
  api_keys: z.array(apiKeySchema.pick({ id: true, name: true, prefix: true, created_at: true, last_used_at: true, expires_at: true })),
  /** The audit trail as recorded, newest first, at most 10,000 (`seq` is the audit log's id, as text). */
  events: z.array(
    z.object({
      seq: z.string(),
      at: z.iso.datetime({ offset: true }),
      actor_label: z.string().nullable(),
      action: z.string(),
      target_type: z.string(),
      target_id: z.string().nullable(),
      target_label: z.string().nullable(),
      /** The payload as recorded (JSON). */
      data: z.unknown(),
      ip: z.string().nullable(),
    }),
  ),
});

export const updateUserSchema = z
  .strictObject({
    version: versionSchema,
    username: usernameSchema.optional(),
    display_name: displayNameSchema.optional(),
    email: emailSchema.optional(),
    role: roleSchema.optional(),
    status: userStatusSchema.optional(),
    can_share_publicly: z.boolean().optional(),
    token_budget: tokenBudgetSchema.optional(),
    minute_budget: minuteBudgetSchema.optional(),
  })
  .refine((u) => Object.keys(u).length > 1, { path: ['_'], message: 'Nothing to change' });
export type UpdateUserRequest = z.infer<typeof updateUserSchema>;

export const adminSetPasswordSchema = z.strictObject({
  password: passwordSchema,
  revoke_sessions: z.boolean().default(true),
});

export const bulkActions = ['activate', 'deactivate', 'set_role', 'delete'] as const;
export const bulkRequestSchema = z
  .strictObject({
    ids: z.array(z.uuid('Every id must be a user id')).min(1, 'Select at least one user').max(500, 'At most 500 users at once'),
    action: z.enum(bulkActions),
    role: roleSchema.optional(),
  })
  .refine((b) => (b.action === 'set_role') === (b.role !== undefined), {
    path: ['role'],
    message: 'A role is needed for set_role, and only for it',
    when: isObjectPayload,
  });
export type BulkRequest = z.infer<typeof bulkRequestSchema>;

export const bulkResultSchema = z.object({
  results: z.array(
    z.object({
      id: z.string(),
      ok: z.boolean(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});
export type BulkResult = z.infer<typeof bulkResultSchema>;

export const deleteUserQuerySchema = z.strictObject({
  /** What happens to the projects the user owns: deleted, or given to `transfer_to`. */
  projects: z.enum(['delete', 'transfer']).default('delete'),
  transfer_to: z.uuid('transfer_to must be a user id').optional(),
});
