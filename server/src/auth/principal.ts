import type { Role } from '@roster/shared';
import type { ValidatedApiKey } from './api-keys.ts';
import type { SessionRow, SessionUser, ValidatedSession } from './sessions.ts';

/** Who is making a request: a browser session, or a program holding an API key. */
export interface Principal {
  kind: 'session' | 'api_key';
  /** The account acting; null for a system API key. */
  user: SessionUser | null;
  /** The role whose permissions apply (system keys act as admin). */
  role: Role;
  session: SessionRow | null;
  apiKeyId: string | null;
  /** How the audit log names this actor. */
  label: string;
  /** When the user's grace period for setting up two-factor sign-in ends, as stored (null: not started). */
  twoFactorDueAt: Date | null;
  /**
   * Set by the authentication middleware: when this user must have two-factor sign-in
   * (REQUIRE_2FA_FOR_STAFF), or null when it is not required of them or already on.
   */
  twoFactorRequiredBy: Date | null;
}

export function sessionPrincipal(validated: ValidatedSession): Principal {
  return {
    kind: 'session',
    user: validated.user,
    role: validated.user.role,
    session: validated.session,
    apiKeyId: null,
    label: validated.user.username,
    twoFactorDueAt: validated.twoFactorDueAt,
    twoFactorRequiredBy: null,
  };
}

export function apiKeyPrincipal(validated: ValidatedApiKey): Principal {
  return {
    kind: 'api_key',
    user: validated.user,
    role: validated.user?.role ?? 'admin',
    session: null,
    apiKeyId: validated.key.id,
    label: validated.user?.username ?? `system key "${validated.key.name}"`,
    twoFactorDueAt: validated.twoFactorDueAt,
    twoFactorRequiredBy: null,
  };
}
