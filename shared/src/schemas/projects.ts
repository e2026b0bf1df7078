import { z } from 'zod';
import { pageSeqSchema, versionSchema } from './common.ts';
import { userRefSchema } from './fields.ts';

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
export const projectListSchema = z.object({
  items: z.array(projectSchema),
  /** The newest live event the list reflects. */
  seq: pageSeqSchema,
});
export type ProjectList = z.infer<typeof projectListSchema>;

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
