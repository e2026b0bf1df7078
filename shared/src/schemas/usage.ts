import { z } from 'zod';

// Budgets, usage reports and checks.

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
