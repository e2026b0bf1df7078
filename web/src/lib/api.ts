import { goto } from '$app/navigation';
import { errorBodySchema, routeTarget, type ErrorCode, type JsonRouteKey, type RequestArgs, type ResponseOf, type RouteCall, type RouteKey } from '@roster/shared';
import { reauth } from './reauth.svelte';

/** An error answered by the API, with its code and per-field messages for forms. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'network',
    message: string,
    readonly fields: Record<string, string> = {},
    /** For `version_conflict`: the record as it is now (the body's `current`). */
    readonly current?: unknown,
  ) {
    super(message);
  }
}

/**
 * Calls a route of the shared route table (`api('PATCH /users/:id', { params: { id }, body })`) with
 * the session cookie; resolves with what the route's response schema describes, or throws
 * `ApiError`. A change that needs the password confirmed asks for it and is retried once
 * confirmed; a user who must first replace an admin-set password, or staff who must first set up
 * two-factor sign-in (REQUIRE_2FA_FOR_STAFF, after the grace period), are taken to that page.
 */
export function api<K extends JsonRouteKey>(route: K, ...request: RequestArgs<K>): Promise<ResponseOf<K>>;
// The server answers each route with its response schema (the same definitions type both ends), so
// the body is passed on as the declaration above says, not checked again here.
export async function api(route: RouteKey, request: RouteCall = {}): Promise<unknown> {
  try {
    return await send(route, request);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'reauthentication_required' && (await reauth.ask())) {
      return send(route, request);
    }
    if (error instanceof ApiError && error.code === 'password_change_required') void goto('/choose-password');
    if (error instanceof ApiError && error.code === 'two_factor_setup_required') void goto('/set-up-two-factor');
    throw error;
  }
}

/** The address of a download (`GET /users/export.csv`) with its query, for a link the browser follows. */
export function downloadUrl<K extends RouteKey>(route: K, ...request: RequestArgs<K>): string {
  return `/api/v1${routeTarget(route, (request[0] ?? {}) as RouteCall).path}`;
}

async function send(route: RouteKey, request: RouteCall): Promise<unknown> {
  const { method, path } = routeTarget(route, request);
  const { body } = request;
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
  if (response.status === 204) return undefined;
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const body = errorBodySchema.safeParse(payload).data;
    const error = body?.error;
    throw new ApiError(response.status, error?.code ?? codeOf(response.status), error?.message ?? fallbackMessage(response), error?.fields, body?.current);
  }
  return payload;
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
