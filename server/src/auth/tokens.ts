import { hash } from 'node:crypto';

/** How every secret token is stored at rest: its SHA-256, hex. */
export function sha256Hex(token: string): string {
  // The one-shot form: every request hashes its token, and a Hash object per call costs three times as much.
  return hash('sha256', token, 'hex');
}
