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

/**
 * Shape only: the minimum length is deployment configuration (`PASSWORD_MIN_LENGTH`), checked by
 * the server's password policy, which the console learns from `GET /setup`.
 */
export const passwordSchema = z
  .string({ error: 'Password must be text' })
  .min(1, 'Password is required')
  .max(PASSWORD_MAX_LENGTH, `Password must be at most ${PASSWORD_MAX_LENGTH} characters`);

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

/** A user named in another record: who owns a project, whose session it is. */
export const userRefSchema = z.object({ id: z.uuid(), username: z.string(), display_name: z.string() });
export type UserRef = z.infer<typeof userRefSchema>;

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
  token_budget: z.number().int().nullable(),
  minute_budget: z.number().int().nullable(),
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
  /** When this session last checked the password (sign-in or confirmation). */
  authenticated_at: z.iso.datetime({ offset: true }),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
});
export type Session = z.infer<typeof sessionSchema>;

/** One user: what reads, updates, sign-ins and password changes answer. */
export const userResponseSchema = z.object({ user: userSchema });

/** `session` is null when the caller authenticates with an API key. */
export const meResponseSchema = z.object({ user: userSchema, session: sessionSchema.nullable() });
export type MeResponse = z.infer<typeof meResponseSchema>;

/** The largest value of PostgreSQL's `integer`, the type of versions and minute budgets. */
const INTEGER_MAX = 2_147_483_647;

/**
 * The version a change is based on; a stale one is refused with `version_conflict`. (Here and in
 * the budgets the range comes before `int`, whose check also refuses integers beyond 2^53: those
 * hear "at most", not "whole number".)
 */
const versionSchema = z
  .number({ error: 'The version you read is required' })
  .min(1, 'The version is at least 1')
  .max(INTEGER_MAX, 'No record has this version')
  .int('The version is a whole number');

/** Lets an object-level rule report alongside field errors (zod skips refinements once a field failed). */
function isObjectPayload(payload: { value: unknown }): boolean {
  return typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value);
}

// ---- Users ----------------------------------------------------------------------------------

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
  usage: z.object({ tokens: z.lazy(() => meterUsageSchema), minutes: z.lazy(() => meterUsageSchema) }),
});
export type UserListItem = z.infer<typeof userListItemSchema>;

export const userListSchema = z.object({
  items: z.array(userListItemSchema),
  next_cursor: z.string().nullable(),
  /** How many users match the filters: exact up to 10,000, an estimate beyond (`total_is_estimate`). */
  total: z.number().int(),
  total_is_estimate: z.boolean(),
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
});
export type UserStats = z.infer<typeof userStatsSchema>;

export const createUserSchema = z
  .strictObject({
    username: usernameSchema,
    display_name: displayNameSchema,
    email: emailSchema,
    role: roleSchema.default('user'),
    can_share_publicly: z.boolean().default(false),
    token_budget: z.lazy(() => tokenBudgetSchema).default(null),
    minute_budget: z.lazy(() => minuteBudgetSchema).default(null),
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
  sessions: z.array(sessionSchema.pick({ id: true, created_at: true, expires_at: true, last_seen_at: true, ip: true, user_agent: true })),
  api_keys: z.array(z.lazy(() => apiKeySchema.pick({ id: true, name: true, prefix: true, created_at: true, last_used_at: true, expires_at: true }))),
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
    token_budget: z.lazy(() => tokenBudgetSchema).optional(),
    minute_budget: z.lazy(() => minuteBudgetSchema).optional(),
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

// ---- Self-service -----------------------------------------------------------------------------

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

// ---- Sessions -----------------------------------------------------------------------------------

export const userFilterQuerySchema = z.strictObject({ user_id: z.uuid().optional() });

/** The sessions list: filters, search and keyset paging (most recently used first). */
export const sessionListQuerySchema = z.strictObject({
  user_id: z.uuid().optional(),
  /** Part of the user's username or display name. */
  q: z.string().trim().max(100, 'Search text must be at most 100 characters').optional(),
  /** Only sessions with a live connection open now (`true`), or without (`false`). */
  online: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  /** An address, or a network in CIDR notation (`10.0.0.0/8`). */
  ip: z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], { error: 'Must be an IP address or a CIDR network' }).optional(),
  /** Part of the browser's user agent (`Firefox`, `iPhone`). */
  agent: z.string().trim().min(1).max(100, 'At most 100 characters').optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type SessionListQuery = z.infer<typeof sessionListQuerySchema>;

export const sessionEntrySchema = sessionSchema.extend({
  user: userRefSchema,
  /** The applications signed in to through this session (with Roster's OpenID provider): ending it signs them out. */
  applications: z.array(z.object({ id: z.uuid(), name: z.string() })),
  /** A live connection of this session is open now. */
  online: z.boolean(),
  /** The session making the request. */
  current: z.boolean(),
});
export type SessionEntry = z.infer<typeof sessionEntrySchema>;
export const sessionListSchema = z.object({ items: z.array(sessionEntrySchema), next_cursor: z.string().nullable() });

export const revokeUserSessionsQuerySchema = z.strictObject({
  except_current: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

/** What an admin types to end every session of every user. */
export const SIGN_OUT_EVERYONE_PHRASE = 'sign out everyone';
export const revokeEverySessionSchema = z.strictObject({
  confirm: z.literal(SIGN_OUT_EVERYONE_PHRASE, { error: `Type "${SIGN_OUT_EVERYONE_PHRASE}" to confirm` }),
  /** Keep the session making the request. */
  keep_own: z.boolean().default(true),
});
export const revokedEverySessionSchema = z.object({ ended: z.number().int() });

// ---- API keys -----------------------------------------------------------------------------------

export const API_KEY_PREFIX = 'rst_';

export const apiKeySchema = z.object({
  id: z.uuid(),
  /** null for a system key (admin permissions, owned by no user). */
  user_id: z.uuid().nullable(),
  name: z.string(),
  /** The first characters of the key, to recognise it. */
  prefix: z.string(),
  created_at: z.iso.datetime({ offset: true }),
  last_used_at: z.iso.datetime({ offset: true }).nullable(),
  expires_at: z.iso.datetime({ offset: true }).nullable(),
});
export type ApiKey = z.infer<typeof apiKeySchema>;
export const apiKeyListSchema = z.object({ items: z.array(apiKeySchema) });

/** How long an expiring key may live; one that should live longer is made without expiry. */
const API_KEY_MAX_YEARS = 5;

export const createApiKeySchema = z.strictObject({
  name: z.string().trim().min(1, 'Name is required').max(100, 'Name must be at most 100 characters'),
  system: z.boolean().default(false),
  expires_at: z.iso
    .datetime({ offset: true, error: 'Expiry must be an ISO date-time' })
    .refine((v) => Date.parse(v) > Date.now(), 'Expiry must be in the future')
    .refine((v) => Date.parse(v) <= yearsFromNow(API_KEY_MAX_YEARS), `Expiry must be at most ${API_KEY_MAX_YEARS} years from now`)
    .optional(),
});

function yearsFromNow(years: number): number {
  const date = new Date();
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return date.getTime();
}

export const createdApiKeySchema = z.object({ api_key: apiKeySchema, key: z.string() });

// ---- Budgets and usage --------------------------------------------------------------------------

export const meters = ['tokens', 'minutes'] as const;
export const meterSchema = z.enum(meters);
export type Meter = z.infer<typeof meterSchema>;

/**
 * Monthly token budget: empty for unlimited, else 100,000 to a trillion in steps of 10,000. The
 * maximum is far above any real month and far below the `bigint` column and JavaScript's safe integers.
 */
const TOKEN_BUDGET_MAX = 1_000_000_000_000;
export const tokenBudgetSchema = z
  .number({ error: 'Token budget must be a number or null' })
  .min(100_000, 'Token budget must be at least 100,000')
  .max(TOKEN_BUDGET_MAX, 'Token budget must be at most 1,000,000,000,000')
  .int('Token budget must be a whole number')
  .multipleOf(10_000, 'Token budget must be in steps of 10,000')
  .nullable();

/**
 * Monthly minute budget: empty for unlimited, else 10 to a billion (some 1,900 years of one
 * stream; many run in parallel), below the 2,147,483,647 an `integer` column holds.
 */
const MINUTE_BUDGET_MAX = 1_000_000_000;
export const minuteBudgetSchema = z
  .number({ error: 'Minute budget must be a number or null' })
  .min(10, 'Minute budget must be at least 10')
  .max(MINUTE_BUDGET_MAX, 'Minute budget must be at most 1,000,000,000')
  .int('Minute budget must be a whole number')
  .nullable();

export const usageStates = ['ok', 'warning', 'blocked'] as const;
export type UsageState = (typeof usageStates)[number];

export const meterUsageSchema = z.object({
  used: z.number(),
  budget: z.number().nullable(),
  /** used / budget, 0–∞; null when unlimited. */
  ratio: z.number().nullable(),
  state: z.enum(usageStates),
});
export type MeterUsage = z.infer<typeof meterUsageSchema>;

export const userUsageSchema = z.object({
  user_id: z.uuid(),
  /** The UTC calendar month, e.g. "2026-11". */
  month: z.string(),
  meters: z.object({ tokens: meterUsageSchema, minutes: meterUsageSchema }),
  cost: z.object({
    total_usd: z.number(),
    by_source: z.array(z.object({ source: z.string().nullable(), meter: meterSchema, amount: z.number(), usd: z.number() })),
  }),
});
export type UserUsage = z.infer<typeof userUsageSchema>;

/** One report's (or one check's) amount of a meter. */
const usageAmountSchema = z
  .number({ error: 'Amount must be a number' })
  .positive('Amount must be positive')
  .max(1e12, 'Amount must be at most 1,000,000,000,000');

/** The earliest date a usage report may carry: anything older is a mistake (year 0 is not even a PostgreSQL date). */
const USAGE_EARLIEST = '2000-01-01T00:00:00Z';
/**
 * How far ahead of the server's clock a report may be dated: room for hosts whose clocks run
 * fast, no more. Checked by the service against its clock, which tests can move.
 */
export const USAGE_MAX_AHEAD_MS = 24 * 3600 * 1000;

export const reportUsageSchema = z.strictObject({
  user_id: z.uuid('user_id must be a user id'),
  meter: meterSchema,
  amount: usageAmountSchema,
  source: z.string().trim().min(1).max(100).optional(),
  at: z.iso
    .datetime({ offset: true, error: 'at must be an ISO date-time' })
    .refine((v) => Date.parse(v) >= Date.parse(USAGE_EARLIEST), 'at must not be before 2000-01-01')
    .optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
});
export type ReportUsageRequest = z.infer<typeof reportUsageSchema>;
/** `recorded` is false for a report whose idempotency key was seen before (then the status is 200). */
export const usageReportedSchema = z.object({ recorded: z.boolean(), usage: meterUsageSchema });

export const usageCheckQuerySchema = z.strictObject({
  user_id: z.uuid('user_id must be a user id'),
  meter: meterSchema,
  amount: z.coerce.number({ error: 'Amount must be a number' }).pipe(usageAmountSchema).default(1),
});

export const usageCheckSchema = z.object({
  allowed: z.boolean(),
  state: z.enum(usageStates),
  used: z.number(),
  budget: z.number().nullable(),
  remaining: z.number().nullable(),
});

// ---- Projects ------------------------------------------------------------------------------------

export const projectSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  owner: userRefSchema,
  item_count: z.number().int(),
  size_bytes: z.number().int(),
  members: z.array(userRefSchema),
  version: z.number().int(),
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }),
});
export type Project = z.infer<typeof projectSchema>;
export const projectResponseSchema = z.object({ project: projectSchema });
export const projectListSchema = z.object({ items: z.array(projectSchema) });

const projectName = z.string().trim().min(1, 'Name is required').max(100, 'Name must be at most 100 characters');
/** Item counts and sizes: `bigint` columns, bounded by what JavaScript counts exactly. */
const count = z
  .number({ error: 'Must be a number' })
  .min(0, 'Must not be negative')
  .max(Number.MAX_SAFE_INTEGER, 'Must be at most 9,007,199,254,740,991')
  .int('Must be a whole number');

export const createProjectSchema = z.strictObject({
  name: projectName,
  owner_id: z.uuid('owner_id must be a user id'),
  item_count: count.default(0),
  size_bytes: count.default(0),
  member_ids: z.array(z.uuid('Every member must be a user id')).max(1000).default([]),
});

export const updateProjectSchema = z
  .strictObject({
    version: versionSchema.optional(),
    name: projectName.optional(),
    owner_id: z.uuid('owner_id must be a user id').optional(),
    item_count: count.optional(),
    size_bytes: count.optional(),
  })
  .refine((p) => Object.keys(p).some((k) => k !== 'version'), { path: ['_'], message: 'Nothing to change' });

export const projectMemberSchema = z.strictObject({ user_id: z.uuid('user_id must be a user id') });

export const deleteUserQuerySchema = z.strictObject({
  /** What happens to the projects the user owns: deleted, or given to `transfer_to`. */
  projects: z.enum(['delete', 'transfer']).default('delete'),
  transfer_to: z.uuid('transfer_to must be a user id').optional(),
});

// ---- Statistics -----------------------------------------------------------------------------------

export const overviewSchema = z.object({
  /** Every role and every status, zero included. */
  users_by_role: z.record(roleSchema, z.number()),
  users_by_status: z.record(userStatusSchema, z.number()),
  /** The last 30 UTC days, oldest first. */
  days: z.array(z.object({ day: z.string(), sign_ins: z.number(), active_sessions: z.number() })),
  /** The last 12 UTC months, oldest first. */
  usage_by_month: z.array(z.object({ month: z.string(), tokens: z.number(), minutes: z.number() })),
  top_consumers: z.array(
    z.object({ user_id: z.uuid(), username: z.string(), display_name: z.string(), tokens: z.number(), minutes: z.number(), usd: z.number() }),
  ),
  storage: z.array(z.object({ user_id: z.uuid(), username: z.string(), display_name: z.string(), size_bytes: z.number(), projects: z.number() })),
});
export type Overview = z.infer<typeof overviewSchema>;
