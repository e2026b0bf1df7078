import type { Role } from './schemas.ts';

/**
 * The permission matrix (docs/architecture.md, "Roles and permissions"), once. The server enforces it on every route (see
 * `api.ts`); the console uses it to hide what a role cannot do. The server is the authority.
 */
export const capabilities = {
  /** See the users table, stats and user details. */
  'users.read': ['admin', 'moderator'],
  /** Create, edit, delete, (de)activate users, change roles, reset passwords, export. */
  'users.write': ['admin'],
  /** See and revoke anyone's sessions (everyone may see and revoke their own). */
  'sessions.all': ['admin'],
  /** Manage projects and assign users to them. */
  'projects.manage': ['admin', 'moderator'],
  /** Read the audit log. */
  'audit.read': ['admin', 'moderator'],
  /** System settings and system API keys. */
  'system.manage': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Capability = keyof typeof capabilities;

export function can(role: Role, capability: Capability): boolean {
  return (capabilities[capability] as readonly Role[]).includes(role);
}

/** Roles that see every user event live (the "staff" audience). */
export const staffRoles = ['admin', 'moderator'] as const satisfies readonly Role[];
