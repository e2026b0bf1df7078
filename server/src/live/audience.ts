import { staffRoles, type AuditEvent, type Role } from '@roster/shared';

// Who may see an event on the live channel, and in what shape. Staff (admins, moderators) read the
// audit log, so they get events whole. A plain user gets only events about their own account,
// sessions, keys and usage, and about projects they own or belong to, and only what the API would
// tell them: no client addresses, no other people's identities or totals.

export interface Viewer {
  id: string;
  role: Role;
}

export const isStaff = (role: Role) => (staffRoles as readonly Role[]).includes(role);

/**
 * The plain users an event concerns: the user it is about, the owner of the session, key or
 * usage, and a project's owners and members (`audience`). Mirrors the filter of `eventsSince`
 * used for replays.
 */
export function plainUsersConcerned(event: AuditEvent): Set<string> {
  const users = new Set<string>();
  if (event.target_type === 'user' && event.target_id) users.add(event.target_id);
  if (typeof event.data.user_id === 'string') users.add(event.data.user_id);
  if (Array.isArray(event.data.audience)) for (const id of event.data.audience) if (typeof id === 'string') users.add(id);
  return users;
}

/** Whether `viewer` may see `event` at all. */
export function canSee(viewer: Viewer, event: AuditEvent): boolean {
  return isStaff(viewer.role) || plainUsersConcerned(event).has(viewer.id);
}

/** The event as a plain user may see it (call only when `canSee`). */
export function plainUserView(viewer: Viewer, event: AuditEvent): AuditEvent {
  const { audience: _audience, owners, ...data } = event.data;
  const shaped: AuditEvent = {
    ...event,
    ip: null,
    // Who acted is staff information, unless it was the user themselves.
    actor: event.actor.id === viewer.id ? event.actor : { id: null, label: null },
    data,
  };
  // A member sees the project, not its owner's totals over projects row-level security hides.
  if (Array.isArray(owners)) shaped.data.owners = owners.filter((o: { user_id?: unknown }) => o.user_id === viewer.id);
  return shaped;
}

/** The event for `viewer`, or null when they may not see it. */
export function eventFor(viewer: Viewer, event: AuditEvent): AuditEvent | null {
  if (!canSee(viewer, event)) return null;
  return isStaff(viewer.role) ? event : plainUserView(viewer, event);
}
