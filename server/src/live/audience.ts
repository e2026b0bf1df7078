import { eventUserId, staffRoles, type AuditEvent, type LiveEvent, type Role } from '@roster/shared';

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
  const owner = eventUserId(event);
  if (owner) users.add(owner);
  if (event.target_type === 'project') for (const id of event.data.audience) users.add(id);
  return users;
}

/** Whether `viewer` may see `event` at all. */
export function canSee(viewer: Viewer, event: AuditEvent): boolean {
  return isStaff(viewer.role) || plainUsersConcerned(event).has(viewer.id);
}

/** The event as a plain user may see it (call only when `canSee`). */
export function plainUserView(viewer: Viewer, event: AuditEvent): LiveEvent {
  const shaped = {
    ...event,
    ip: null,
    // Who acted is staff information, unless it was the user themselves.
    actor: event.actor.id === viewer.id ? event.actor : { id: null, label: null },
  };
  if (shaped.target_type !== 'project') return shaped;
  // A member sees the project, not its owner's totals over projects row-level security hides.
  const { audience: _audience, owners, ...data } = shaped.data;
  return { ...shaped, data: { ...data, owners: owners.filter((o) => o.user_id === viewer.id) } };
}

/** The event for `viewer`, or null when they may not see it. */
export function eventFor(viewer: Viewer, event: AuditEvent): LiveEvent | null {
  if (!canSee(viewer, event)) return null;
  return isStaff(viewer.role) ? event : plainUserView(viewer, event);
}
