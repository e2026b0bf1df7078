import { AppError } from '../errors.ts';

// Keyset paging: a cursor is the sort key and id of a page's last row, opaque to clients.

export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The parts of a cursor this list made; anything else is a 400 on `cursor`. */
export function decodeCursor(cursor: string, length: number): string[] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // not JSON: not ours
  }
  throw new AppError('validation_failed', 'Some fields are invalid', { cursor: 'Not a cursor from this list' });
}

/** `text` for a LIKE pattern, matched literally. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => '\\' + c);
}
