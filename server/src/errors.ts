import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { errorStatus, type ErrorCode } from '@roster/shared';

// Errors every layer throws (services, data, the command line); the HTTP layer turns them into
// the JSON error body (http/errors.ts).

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
