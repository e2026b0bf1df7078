import { z } from 'zod';
import { roleSchema, userStatusSchema } from './fields.ts';

// The overview page's figures.

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
