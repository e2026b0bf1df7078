import { z } from 'zod';
import { userSchema } from './schemas.ts';

// Two-factor sign-in with an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

/** Digits of a code, and the seconds each one lasts: what every authenticator app assumes. */
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Recovery codes given at once; each works one time. */
export const RECOVERY_CODE_COUNT = 10;

/** A code from the authenticator app; spaces (as apps show "123 456") are ignored. */
export const totpCodeSchema = z
  .string({ error: 'Enter the 6-digit code from your authenticator app' })
  .max(20)
  .transform((code) => code.replace(/\s/g, ''))
  .pipe(z.string().regex(/^\d{6}$/, 'Enter the 6-digit code from your authenticator app'));

/** A recovery code as printed (`abcdef-ghijkl-mnopqr-stuvwx`); case, spaces and dashes do not matter. */
export const recoveryCodeSchema = z
  .string({ error: 'Enter one of your recovery codes' })
  .max(40)
  .transform((code) => code.toLowerCase().replace(/[\s-]/g, ''))
  .pipe(z.string().regex(/^[a-z2-7]{24}$/, 'A recovery code is 24 letters and digits, like abcdef-ghijkl-mnopqr-stuvwx'));

/** The sign-in's answer: signed in, or the password was right and the second step is awaited. */
export const loginResultSchema = z.union([
  z.object({ user: userSchema }),
  z.object({
    /** Send a code (or a recovery code) to `POST /auth/second-factor` before `expires_at`; no session exists yet. */
    second_factor_required: z.literal(true),
    expires_at: z.iso.datetime({ offset: true }),
  }),
]);
export type LoginResult = z.infer<typeof loginResultSchema>;

/** The second step of a sign-in: a code from the app, or one recovery code. */
export const secondFactorRequestSchema = z
  .strictObject({ code: totpCodeSchema.optional(), recovery_code: recoveryCodeSchema.optional() })
  .refine((body) => (body.code === undefined) !== (body.recovery_code === undefined), {
    path: ['code'],
    message: 'Enter the code from your authenticator app, or a recovery code',
    when: (payload) => typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
  });
export type SecondFactorRequest = z.infer<typeof secondFactorRequestSchema>;

/** One's own two-factor sign-in. */
export const twoFactorStatusSchema = z.object({
  enabled: z.boolean(),
  enabled_at: z.iso.datetime({ offset: true }).nullable(),
  /** Recovery codes not used yet. */
  recovery_codes_left: z.number().int(),
  /** The current set of recovery codes (as `recovery_codes_set` where they were shown); null when none is left. */
  recovery_codes_set: z.number().int().nullable(),
  /** Your role requires it (REQUIRE_2FA_FOR_STAFF): it cannot be turned off, only replaced with a new authenticator. */
  required: z.boolean(),
  /** Staff must set it up (REQUIRE_2FA_FOR_STAFF) by this time; null when it is not required of you or already on. */
  required_by: z.iso.datetime({ offset: true }).nullable(),
});
export type TwoFactorStatus = z.infer<typeof twoFactorStatusSchema>;

/** A new authenticator secret, to scan (the `otpauth://` URI as a QR code) or type in; on only once confirmed. */
export const totpEnrolmentSchema = z.object({
  /** This enrolment: send it back with the code, so a code for an enrolment replaced meanwhile is told apart from a wrong one. */
  id: z.uuid(),
  /** Base32, as authenticator apps take it when typed in. */
  secret: z.string(),
  uri: z.string(),
});
export type TotpEnrolment = z.infer<typeof totpEnrolmentSchema>;

export const confirmTotpSchema = z.strictObject({
  code: totpCodeSchema,
  /**
   * The enrolment the code is for (its `id`). When given and it is no longer the one waiting, the
   * answer says why instead of calling the code wrong: `two_factor_setup_replaced` (started again
   * elsewhere) or `two_factor_set_up_elsewhere` (confirmed elsewhere).
   */
  enrolment_id: z.uuid().optional(),
});

/** Recovery codes, shown only in this answer (stored hashed). */
export const recoveryCodesSchema = z.object({
  recovery_codes: z.array(z.string()),
  /**
   * The set these codes are: every new set has a higher number than any before it. Codes shown
   * while the status (or a `user.recovery_codes_regenerated` event) names a higher set no longer work.
   */
  recovery_codes_set: z.number().int(),
});
export type RecoveryCodeSet = z.infer<typeof recoveryCodesSchema>;
