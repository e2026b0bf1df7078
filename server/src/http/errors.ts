import type { Context } from 'hono';
import { z } from 'zod';
import type { ErrorBody } from '@roster/shared';
import { AppError, validationError } from '../errors.ts';
import type { Logger } from '../logger.ts';

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
