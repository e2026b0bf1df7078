import { toast } from 'svelte-sonner';
import { toApiError, type ApiError } from './api';

/**
 * Refusals that need no toast: a cancelled password confirmation is the person's own choice; a
 * signed-out session is taken to sign-in by the live channel (with the reason), and a password an
 * admin set leads to the choose-password page, and staff past their grace period for two-factor
 * sign-in to its setup page.
 */
function speaksForItself(error: ApiError): boolean {
  return (
    error.code === 'reauthentication_required' ||
    error.code === 'password_change_required' ||
    error.code === 'two_factor_setup_required' ||
    error.status === 401
  );
}

/** Tells the person that something they asked for, or a page they opened, did not work. */
export function reportFailure(error: unknown): void {
  const failure = toApiError(error);
  if (!speaksForItself(failure)) toast.error(failure.message);
}

/**
 * Runs an action or a load; a failure is shown in a toast, never lost or thrown at the page.
 * Resolves with the result, or undefined when it failed.
 */
export async function attempt<T>(action: () => Promise<T>, success?: string): Promise<T | undefined> {
  try {
    const result = await action();
    if (success) toast.success(success);
    return result;
  } catch (error) {
    reportFailure(error);
    return undefined;
  }
}
