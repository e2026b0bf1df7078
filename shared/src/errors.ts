import { z } from 'zod';

/** Every error code the API answers with, and the HTTP status it always travels with. */
export const errorStatus = {
  validation_failed: 400,
  invalid_credentials: 401,
  unauthenticated: 401,
  forbidden: 403,
  /** A sensitive change needs the password confirmed in the last few minutes (POST /auth/reauthenticate). */
  reauthentication_required: 403,
  /** The password was set by an admin or generated: choose your own (PUT /me/password) before anything else. */
  password_change_required: 403,
  /** Staff must set up two-factor sign-in (REQUIRE_2FA_FOR_STAFF) and the grace period is over: do that first. */
  two_factor_setup_required: 403,
  registration_closed: 403,
  not_found: 404,
  username_taken: 409,
  email_taken: 409,
  version_conflict: 409,
  last_admin: 409,
  self_action: 409,
  /** The authenticator being confirmed was replaced: setting up was started again (another tab or browser). Start over. */
  two_factor_setup_replaced: 409,
  /** The authenticator being confirmed was not used: two-factor sign-in was set up elsewhere meanwhile. */
  two_factor_set_up_elsewhere: 409,
  /** An invitation or reset link that was used, replaced by a newer one, revoked or has expired. */
  invalid_link: 410,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The JSON body of every error answer (a version conflict adds `current`, the record as it is now). */
export const errorBodySchema = z.object({
  error: z.object({
    code: z
      .custom<ErrorCode>((code) => typeof code === 'string' && Object.hasOwn(errorStatus, code))
      .meta({ type: 'string', enum: Object.keys(errorStatus) }),
    message: z.string(),
    /** Field name → what is wrong with it, for `validation_failed` and the `*_taken` codes. */
    fields: z.record(z.string(), z.string()).optional(),
  }),
  /** For `version_conflict`: the record as it is now, so the client can show what changed and save on top of it. */
  current: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;
