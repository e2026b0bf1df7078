import { sha256 } from '@oslojs/crypto/sha2';
import { encodeHexLowerCase } from '@oslojs/encoding';

/** How every secret token is stored at rest: its SHA-256, hex. */
export function sha256Hex(token: string): string {
  return encodeHexLowerCase(sha256(new TextEncoder().encode(token)));
}
