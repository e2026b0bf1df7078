import type { z } from 'zod';
import { ApiError, toApiError } from './api';

type Problems = Record<string, string>;

/**
 * The API's field messages are written for programs too; a few name the field as the API spells it
 * ("owner_id must be a user id"). People read them as the console's own words.
 */
function humanize(message: string): string {
  if (/^\w+_id must be a user id$/.test(message)) return 'Choose a user from the list';
  return message.replace(/^([a-z]+(?:_[a-z]+)+)\b/, (name) => {
    const words = name.replace(/_/g, ' ');
    return words.charAt(0).toUpperCase() + words.slice(1);
  });
}

/** The state every form shares: busy while submitting, and the problems found (fields and message). */
export class FormState {
  busy = $state(false);
  error = $state<ApiError | null>(null);

  /**
   * Runs the submit action; resolves with its result, or undefined when it failed (the error is
   * kept). `problems` found before sending (what the console can check itself) stop it from being
   * sent, so every field's problem shows at once rather than a round at a time.
   */
  async run<T>(action: () => Promise<T>, problems: Problems | (() => Promise<Problems>) = {}): Promise<T | undefined> {
    this.busy = true;
    this.error = null;
    try {
      const found = typeof problems === 'function' ? await problems() : problems;
      if (Object.keys(found).length > 0) {
        this.error = new ApiError(400, 'validation_failed', 'Check the marked fields', found);
        return undefined;
      }
      return await action();
    } catch (e) {
      this.error = toApiError(e);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  /** The problem with a field; for a list, the first of its items' problems (the API names them `name.0`). */
  field(name: string): string | undefined {
    const fields = this.error?.fields ?? {};
    const message = fields[name] ?? Object.entries(fields).find(([key]) => key.startsWith(`${name}.`))?.[1];
    return message === undefined ? undefined : humanize(message);
  }

  /** After a save refused with `version_conflict`: the record as it is now, read with `schema`. */
  current<T>(schema: z.ZodType<T>): T | undefined {
    return this.error?.code === 'version_conflict' ? schema.safeParse(this.error.current).data : undefined;
  }

  /** The error's message when no field carries it (shown once, under the form); a cancelled password confirmation is not one. */
  get message(): string | null {
    if (!this.error || this.error.code === 'reauthentication_required') return null;
    return Object.keys(this.error.fields).length === 0 ? this.error.message : null;
  }
}

/** A schema's complaints about a value, one per top-level field (the first), as the API names them. */
export function fieldProblems(schema: z.ZodType, value: unknown): Problems {
  const result = schema.safeParse(value);
  const problems: Problems = {};
  if (result.success) return problems;
  for (const issue of result.error.issues) problems[String(issue.path[0] ?? '_')] ??= issue.message;
  return problems;
}

/**
 * A budget field's text as the API takes it: empty is unlimited (null). Text that is not a number
 * is sent as it is, so the server refuses it under the field instead of it reading as unlimited
 * (`Number('lots')` is NaN, which JSON sends as null).
 */
export function budgetFromText(text: string): number | string | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : trimmed;
}
