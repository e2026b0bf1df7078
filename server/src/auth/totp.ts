import { encodeBase32LowerCaseNoPadding, encodeBase32NoPadding } from '@oslojs/encoding';
import { createTOTPKeyURI, verifyHOTP } from '@oslojs/otp';
import { RECOVERY_CODE_COUNT, TOTP_DIGITS, TOTP_PERIOD_SECONDS } from '@roster/shared';
import { sha256Hex } from './tokens.ts';

// Second factors: TOTP (RFC 6238, what every authenticator app speaks: HMAC-SHA1, 6 digits, 30 s)
// through @oslojs/otp, and single-use recovery codes.

/**
 * Codes of the step before and after the current one are accepted too: a phone's clock a little off,
 * or a code typed just as it changed. RFC 6238 section 5.2 recommends at most one step either way.
 */
const ACCEPTED_STEPS = [0, -1, 1];

/** A new authenticator secret: 160 bits, the length RFC 4226 recommends for HMAC-SHA1. */
export function generateTotpSecret(): Uint8Array {
  const secret = new Uint8Array(20);
  crypto.getRandomValues(secret);
  return secret;
}

/** The secret as authenticator apps take it typed in (base32, upper case, no padding). */
export function secretForTyping(secret: Uint8Array): string {
  return encodeBase32NoPadding(secret);
}

/** The `otpauth://` URI the QR code carries: Roster as the issuer, the user at this installation's host as the account. */
export function totpUri(secret: Uint8Array, username: string, publicOrigin: string): string {
  // Neither part may hold a colon (it separates them in the label): the host without its port.
  const host = new URL(publicOrigin).hostname;
  return createTOTPKeyURI('Roster', `${username}@${host}`, secret, TOTP_PERIOD_SECONDS, TOTP_DIGITS);
}

/** The time step a code belongs to, if it is one of the accepted steps around `now`; else null. */
export function matchingStep(secret: Uint8Array, code: string, now: Date): bigint | null {
  const current = BigInt(Math.floor(now.getTime() / (TOTP_PERIOD_SECONDS * 1000)));
  for (const offset of ACCEPTED_STEPS) {
    const step = current + BigInt(offset);
    if (verifyHOTP(secret, step, TOTP_DIGITS, code)) return step;
  }
  return null;
}

/**
 * New recovery codes: 24 base32 characters each (120 random bits: at 112 bits or more an unsalted
 * SHA-256 at rest is enough, ASVS 6.5.2, since trying every code is out of reach), shown grouped
 * by six.
 */
export function generateRecoveryCodes(): { codes: string[]; hashes: string[] } {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const bytes = new Uint8Array(15);
    crypto.getRandomValues(bytes);
    return encodeBase32LowerCaseNoPadding(bytes);
  });
  return { codes: codes.map((code) => code.match(/.{6}/g)!.join('-')), hashes: codes.map(recoveryCodeHash) };
}

/** A recovery code as stored; `code` as the schema normalised it (lower case, no dashes). */
export function recoveryCodeHash(code: string): string {
  return sha256Hex(`recovery:${code}`);
}
