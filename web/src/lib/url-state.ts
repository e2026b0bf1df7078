import { z } from 'zod';
import { eventActions, roles, userSorts, userStatuses } from '@roster/shared';

/**
 * Free text kept in the URL with runed's `useSearchParams`, which reads `a,b` as a list and
 * `true` or `{…}` as JSON: whatever it made of the text is turned back into the text.
 */
const text = (max: number) =>
  z
    .preprocess((value) => (Array.isArray(value) ? value.join(',') : typeof value === 'string' || value === undefined ? value : JSON.stringify(value)), z.string().max(max))
    .catch('');

/** The users table's view: search, filters and sort, in the URL so it can be shared and survives a reload. */
export const userViewSchema = z.object({
  q: text(100),
  role: z.enum(roles).or(z.literal('')).catch(''),
  status: z.enum(userStatuses).or(z.literal('')).catch(''),
  sort: z.enum(userSorts).catch('-created_at'),
});

/** The audit log's filters, in the URL: action, and who acted or was acted on. */
export const auditViewSchema = z.object({
  action: z.enum(eventActions).or(z.literal('')).catch(''),
  actor: z.uuid().or(z.literal('')).catch(''),
  target: text(100),
});

/** The sessions list's filters, in the URL. */
export const sessionViewSchema = z.object({
  q: text(100),
  online: z.enum(['true', 'false']).or(z.literal('')).catch(''),
  ip: text(50),
  agent: text(100),
});
