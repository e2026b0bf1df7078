import { z } from 'zod';
import { pageSeqSchema } from './common.ts';
import { userRefSchema } from './fields.ts';

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
  /** How the sign-in was proven (RFC 8176): `["pwd"]`, or `["pwd", "otp"]` with a second factor. */
  amr: z.array(z.string()),
});
export type Session = z.infer<typeof sessionSchema>;

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
export const sessionListSchema = z.object({
  items: z.array(sessionEntrySchema),
  next_cursor: z.string().nullable(),
  /** The newest live event the page reflects. */
  seq: pageSeqSchema,
});
export type SessionList = z.infer<typeof sessionListSchema>;

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
