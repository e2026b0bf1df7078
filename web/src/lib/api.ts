import { goto } from '$app/navigation';
import type { ErrorBody, ErrorCode } from '@roster/shared';
import { reauth } from './reauth.svelte';

/** An error answered by the API, with its code and per-field messages for forms. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'network',
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Calls the Roster API with the session cookie; resolves with the JSON body or throws `ApiError`.
 * A change that needs the password confirmed asks for it and is retried once confirmed; a user
 * who must first replace an admin-set password is taken to that page.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await request<T>(method, path, body);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'reauthentication_required' && (await reauth.ask())) {
      return request<T>(method, path, body);
    }
    if (error instanceof ApiError && error.code === 'password_change_required') void goto('/choose-password');
    throw error;
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Roster cannot be reached. Check your connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const payload = (await response.json().catch(() => null)) as (T & Partial<ErrorBody>) | null;
  if (!response.ok) {
    const error = payload?.error;
    throw new ApiError(response.status, error?.code ?? codeOf(response.status), error?.message ?? fallbackMessage(response), error?.fields);
  }
  return payload as T;
}

/** A refusal without Roster's JSON body (a proxy answering, say): its status still speaks. */
function codeOf(status: number): ErrorCode {
  if (status === 429) return 'rate_limited';
  if (status === 502 || status === 503 || status === 504) return 'unavailable';
  return 'internal';
}

function fallbackMessage(response: Response): string {
  if (response.status === 429) {
    const seconds = Number(response.headers.get('retry-after'));
    if (!Number.isFinite(seconds) || seconds <= 0) return 'Too many requests; wait a moment, then try again.';
    const minutes = Math.ceil(seconds / 60);
    return `Too many requests; try again in ${seconds < 60 ? `${seconds} seconds` : `${minutes} minute${minutes === 1 ? '' : 's'}`}.`;
  }
  if (response.status >= 502 && response.status <= 504) return 'Roster cannot be reached just now; try again in a moment.';
  return `Something went wrong (the server answered ${response.status}); try again, and tell your administrator if it goes on.`;
}

export function toApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, 'internal', error instanceof Error ? error.message : String(error));
}
