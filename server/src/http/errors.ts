import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { errorStatus, type ErrorBody, type ErrorCode } from '@roster/shared';
import type { Logger } from '../logger.ts';

/** The one error type services and routes throw; `errorResponse` turns it into the JSON body. */
export class AppError extends Error {
  readonly status: ContentfulStatusCode;
  /** Top-level members of the error body besides `error` (e.g. `current` of a version conflict). */
  extra?: Record<string, unknown>;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields?: Record<string, string>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = errorStatus[code] as ContentfulStatusCode;
  }
}

/** A stale `version`: the body carries the record as it is now, so the client can show what changed. */
export function versionConflict(current: unknown): AppError {
  const error = new AppError('version_conflict', 'Someone else changed this record; review their change');
  error.extra = { current };
  return error;
}

/** Maps a zod failure to `validation_failed` with one message per offending field. */
export function validationError(error: z.ZodError): AppError {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) fields[key] ??= 'Unknown field';
      continue;
    }
    const key = issue.path.length > 0 ? issue.path.join('.') : '_';
    fields[key] ??= issue.message;
  }
  return new AppError('validation_failed', 'Some fields are invalid', fields);
}

export function errorResponse(c: Context, error: unknown, log: Logger): Response {
  const appError = toAppError(error);
  if (appError.code === 'internal') log.error({ err: error, path: c.req.path }, 'unhandled error');
  // Which connection error it was tells an operator whether the database is down, restarting or full.
  if (appError.code === 'unavailable') log.warn({ err: error, path: c.req.path }, 'database unavailable');
  const body: ErrorBody = { error: { code: appError.code, message: appError.message } };
  if (appError.fields) body.error.fields = appError.fields;
  return c.json({ ...body, ...appError.extra }, appError.status, appError.headers);
}

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof z.ZodError) return validationError(error);
  if (isDatabaseUnavailable(error)) {
    return new AppError('unavailable', 'The database is unavailable; try again shortly');
  }
  return new AppError('internal', 'Something went wrong on the server');
}

// Connection failures (postgres.js and Node codes), the health watch's verdict, PostgreSQL shutting
// down or starting (57P01, 57P03), and the limits that end a runaway statement or transaction (57014,
// 25P03): none of them is a verdict on the request.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'DATABASE_DOWN',
  '57P01',
  '57P03',
  '57014',
  '25P03',
]);

function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNAVAILABLE_CODES.has(code);
}
