import { toApiError, type ApiError } from './api';

/** The state every form shares: busy while submitting, and the API's error (fields and message). */
export class FormState {
  busy = $state(false);
  error = $state<ApiError | null>(null);

  /** Runs the submit action; resolves with its result, or undefined when it failed (the error is kept). */
  async run<T>(action: () => Promise<T>): Promise<T | undefined> {
    this.busy = true;
    this.error = null;
    try {
      return await action();
    } catch (e) {
      this.error = toApiError(e);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  field(name: string): string | undefined {
    return this.error?.fields[name];
  }

  /** The error's message when no field carries it (shown once, under the form). */
  get message(): string | null {
    return this.error && Object.keys(this.error.fields).length === 0 ? this.error.message : null;
  }
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
