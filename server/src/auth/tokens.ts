import { createHash } from 'node:crypto';

/** How every secret token is stored at rest: its SHA-256, hex. */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
