import type { z } from 'zod';
import type { UserList } from '@roster/shared';
import { api } from './api';
import { fieldProblems } from './form.svelte';

const PAGES = 5;

/**
 * Whether a username or email already belongs to someone else. The users search matches parts of
 * both, so the exact match is looked for in the results sorted by that field (it comes before the
 * longer values that start with it), a few pages at most.
 */
async function isTaken(field: 'username' | 'email', value: string, except?: string): Promise<boolean> {
  const wanted = value.trim().toLowerCase();
  let cursor: string | null = null;
  for (let page = 0; page < PAGES; page++) {
    const result: UserList = await api('GET /users', { query: { q: wanted, sort: field, limit: 200, cursor: cursor ?? undefined } });
    if (result.items.some((u) => u.id !== except && u[field].toLowerCase() === wanted)) return true;
    const last = result.items.at(-1)?.[field].toLowerCase();
    cursor = result.next_cursor;
    if (!cursor || (last !== undefined && last > wanted)) return false;
  }
  return false;
}

/**
 * Everything wrong with a new or changed profile, found at once: the shared schema's format rules
 * and, for staff who may search users, whether the username or email is taken. The server checks
 * all of it again; this only spares the admin a second round.
 */
export async function profileProblems(
  schema: z.ZodType,
  values: Record<string, unknown>,
  options: { except?: string; passwordMinLength?: number } = {},
): Promise<Record<string, string>> {
  const problems = fieldProblems(schema, values);
  const { password } = values;
  if (options.passwordMinLength && typeof password === 'string' && password.length > 0 && password.length < options.passwordMinLength) {
    problems.password ??= `Password must be at least ${options.passwordMinLength} characters`;
  }
  const checks = (['username', 'email'] as const).map(async (field) => {
    const value = values[field];
    if (typeof value !== 'string' || value === '' || problems[field]) return;
    if (await isTaken(field, value, options.except)) {
      problems[field] = field === 'username' ? 'This username is taken' : 'This email belongs to another user';
    }
  });
  await Promise.all(checks);
  return problems;
}
