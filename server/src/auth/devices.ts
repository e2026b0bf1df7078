import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import type { Sql, TransactionSql } from 'postgres';
import { sha256Hex } from './tokens.ts';

// Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
// signed in to an account gets a random token, stored hashed and bound to that account. Signing
// in to that account from that browser is then throttled per device, not per account and IP, so
// strangers guessing passwords lock out only themselves, never the account's owner.

export const DEVICE_COOKIE = 'roster_device';
export const DEVICE_LIFETIME_MS = 180 * 24 * 60 * 60 * 1000;
// The browsers remembered per account; signing in on one more forgets the least recently used.
const DEVICES_PER_USER = 10;

/** The device's id (its token's hash) when `token` is a browser that signed in to `userId` before. */
export async function trustedDevice(sql: Sql, token: string | undefined, userId: string): Promise<string | null> {
  if (!token || !/^[a-z2-7]{32}$/.test(token)) return null;
  const hash = sha256Hex(token);
  const [row] = await sql`
    SELECT 1 FROM trusted_devices
    WHERE token_hash = ${hash} AND user_id = ${userId} AND last_used_at > now() - ${DEVICE_LIFETIME_MS} * interval '1 millisecond'`;
  return row ? hash : null;
}

/**
 * Remembers the browser that just signed in, in the sign-in's transaction: its current token when
 * it is already trusted for this user, else a new one. Returns the token to set in the cookie, and
 * whether the browser is new to the account (the owner may be told: ASVS 6.3.5).
 */
export async function rememberDevice(tx: TransactionSql, userId: string, current: string | undefined): Promise<{ token: string; isNew: boolean }> {
  const valid = current && /^[a-z2-7]{32}$/.test(current) ? current : null;
  if (valid) {
    const touched = await tx`
      UPDATE trusted_devices SET last_used_at = now() WHERE token_hash = ${sha256Hex(valid)} AND user_id = ${userId}`;
    if (touched.count > 0) return { token: valid, isNew: false };
  }
  const bytes = new Uint8Array(20);
  crypto.getRandomValues(bytes);
  const token = encodeBase32LowerCaseNoPadding(bytes);
  await tx`INSERT INTO trusted_devices (token_hash, user_id) VALUES (${sha256Hex(token)}, ${userId})`;
  await tx`
    DELETE FROM trusted_devices WHERE user_id = ${userId} AND token_hash NOT IN (
      SELECT token_hash FROM trusted_devices WHERE user_id = ${userId} ORDER BY last_used_at DESC LIMIT ${DEVICES_PER_USER})`;
  return { token, isNew: true };
}
