import { z } from 'zod';

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
