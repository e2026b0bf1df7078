import { z } from 'zod';

// Building blocks of the schema files; not exported from @roster/shared.

/** The largest value of PostgreSQL's `integer`, the type of versions and minute budgets. */
const INTEGER_MAX = 2_147_483_647;

/**
 * The version a change is based on; a stale one is refused with `version_conflict`. (Here and in
 * the budgets the range comes before `int`, whose check also refuses integers beyond 2^53: those
 * hear "at most", not "whole number".)
 */
export const versionSchema = z
  .number({ error: 'The version you read is required' })
  .min(1, 'The version is at least 1')
  .max(INTEGER_MAX, 'No record has this version')
  .int('The version is a whole number');

/** Lets an object-level rule report alongside field errors (zod skips refinements once a field failed). */
export function isObjectPayload(payload: { value: unknown }): boolean {
  return typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value);
}

/**
 * In a page of a live list: the newest live event the page reflects (its sequence number). The page
 * and this were read in one snapshot, and events commit in sequence order, so a list kept current
 * by the live feed applies to the page only the events after it.
 */
export const pageSeqSchema = z.number().int().nonnegative();
