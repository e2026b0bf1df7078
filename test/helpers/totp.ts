import { decodeBase32IgnorePadding } from '@oslojs/encoding';
import { generateHOTP } from '@oslojs/otp';
import { TOTP_DIGITS, TOTP_PERIOD_SECONDS } from '@roster/shared';
import type { ApiClient } from './clients.ts';

// What an authenticator app does, for tests: the code of a secret at a time, as RFC 6238 computes it.

/** The code `secret` (base32, as Roster shows it) gives at `at`, or `steps` periods later. */
export function totpCode(secret: string, at: Date = new Date(), steps = 0): string {
  const step = Math.floor(at.getTime() / (TOTP_PERIOD_SECONDS * 1000)) + steps;
  return generateHOTP(decodeBase32IgnorePadding(secret), BigInt(step), TOTP_DIGITS);
}

/** Turns two-factor sign-in on for the client's user, confirming with the code of `at`; returns the secret and recovery codes. */
export async function enrolTotp(client: ApiClient, at: Date = new Date()): Promise<{ secret: string; uri: string; recoveryCodes: string[] }> {
  const started = await client.post('/api/v1/me/two-factor');
  if (started.status !== 200) throw new Error(`enrolment: ${started.status} ${JSON.stringify(started.body)}`);
  const confirmed = await client.post('/api/v1/me/two-factor/confirm', { code: totpCode(started.body.secret, at) });
  if (confirmed.status !== 200) throw new Error(`confirmation: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
  return { secret: started.body.secret, uri: started.body.uri, recoveryCodes: confirmed.body.recovery_codes };
}
