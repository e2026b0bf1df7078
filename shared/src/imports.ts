import { z } from 'zod';
import { displayNameSchema, emailSchema, passwordSchema, roleSchema, userListQuerySchema, usernameSchema, userStatusSchema } from './schemas.ts';

// ---- CSV import and export of users (docs/csv.md) --------------------------------------------------
//
// The console reads the file (papaparse) and maps its columns to these fields; the server takes the
// mapped rows a chunk at a time, checks each with `importRowSchema`, and answers a result per row.

/** The most rows one `POST /users/import` takes; the console sends a file in chunks of this size. */
export const IMPORT_CHUNK_MAX = 500;

/** The fields a CSV column can be mapped to; `username` and `email` are required. */
export const importFields = ['username', 'email', 'display_name', 'role', 'status', 'password'] as const;
export type ImportField = (typeof importFields)[number];
export const requiredImportFields: readonly ImportField[] = ['username', 'email'];

/** A cell as the file has it: blank means "not given" (a default for a new user, no change for an existing one). */
const cell = z.string().max(1000, 'At most 1,000 characters').optional();

/** One row as the console sends it: the cells of the mapped columns, as text. */
export const importCellsSchema = z.strictObject(Object.fromEntries(importFields.map((f) => [f, cell])) as Record<ImportField, typeof cell>);
export type ImportCells = z.infer<typeof importCellsSchema>;

const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const lowercased = (value: unknown) => {
  const given = blankToUndefined(value);
  return typeof given === 'string' ? given.trim().toLowerCase() : given;
};

/** What a row means once checked: the same rules as creating a user by hand. */
export const importRowSchema = z.object({
  username: usernameSchema,
  email: emailSchema,
  display_name: z.preprocess(blankToUndefined, displayNameSchema.optional()),
  role: z.preprocess(lowercased, z.enum(roleSchema.options, { error: 'Role must be admin, moderator or user' }).optional()),
  status: z.preprocess(lowercased, z.enum(userStatusSchema.options, { error: 'Status must be active or inactive' }).optional()),
  /** Only for new users; the server's password policy applies too. */
  password: z.preprocess((v) => (v === '' ? undefined : v), passwordSchema.optional()),
});
export type ImportRow = z.infer<typeof importRowSchema>;

export const importModes = ['skip', 'update'] as const;

export const importRequestSchema = z.strictObject({
  /** What to do with a row whose username exists: leave the user as is, or update the fields given. */
  mode: z.enum(importModes).default('skip'),
  /** Check every row against the rules and the database, write nothing (the preview). */
  dry_run: z.boolean().default(false),
  rows: z.array(importCellsSchema).min(1, 'Send at least one row').max(IMPORT_CHUNK_MAX, `At most ${IMPORT_CHUNK_MAX} rows at once`),
});
export type ImportRequest = z.infer<typeof importRequestSchema>;

/** What happened (or, in a dry run, would happen) to a row. */
export const importOutcomes = ['created', 'updated', 'unchanged', 'skipped', 'failed'] as const;
export type ImportOutcome = (typeof importOutcomes)[number];

export const importRowResultSchema = z.object({
  /** The row's position in the request. */
  index: z.number().int(),
  outcome: z.enum(importOutcomes),
  /** The user created, updated or left as is. */
  user_id: z.uuid().optional(),
  /** Why the row failed: field → message (`_` for the row as a whole). */
  errors: z.record(z.string(), z.string()).optional(),
});
export type ImportRowResult = z.infer<typeof importRowResultSchema>;

export const importCountsSchema = z.object(Object.fromEntries(importOutcomes.map((o) => [o, z.number().int()])) as Record<ImportOutcome, z.ZodNumber>);
export type ImportCounts = z.infer<typeof importCountsSchema>;

export const importResultSchema = z.object({
  dry_run: z.boolean(),
  counts: importCountsSchema,
  results: z.array(importRowResultSchema),
});
export type ImportResult = z.infer<typeof importResultSchema>;

export function countOutcomes(results: readonly { outcome: ImportOutcome }[]): ImportCounts {
  const counts = Object.fromEntries(importOutcomes.map((o) => [o, 0])) as ImportCounts;
  for (const result of results) counts[result.outcome]++;
  return counts;
}

/**
 * Rows that repeat an earlier row's username or email (compared as the database does, ignoring
 * case): index → field → message. The console checks the whole file with it before sending, the
 * server each chunk.
 */
export function duplicateRows(rows: readonly { username?: string; email?: string }[], firstLine = 1): Map<number, Record<string, string>> {
  const seen = { username: new Map<string, number>(), email: new Map<string, number>() };
  const duplicates = new Map<number, Record<string, string>>();
  rows.forEach((row, index) => {
    for (const field of ['username', 'email'] as const) {
      const value = row[field]?.trim().toLowerCase();
      if (!value) continue;
      const first = seen[field].get(value);
      if (first === undefined) seen[field].set(value, index);
      else duplicates.set(index, { ...duplicates.get(index), [field]: `Same as row ${first + firstLine}` });
    }
  });
  return duplicates;
}

/** The users CSV export takes the users table's filters and sort (no paging: every match is written). */
export const userExportQuerySchema = userListQuerySchema.pick({ q: true, role: true, status: true, sort: true });
export type UserExportQuery = z.infer<typeof userExportQuerySchema>;

/** The export's columns, in order. */
export const userExportColumns = [
  'id',
  'username',
  'display_name',
  'email',
  'role',
  'status',
  'password_change_required',
  'can_share_publicly',
  'token_budget',
  'minute_budget',
  'created_at',
  'updated_at',
  'last_login_at',
] as const;
