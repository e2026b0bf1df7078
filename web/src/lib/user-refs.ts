import type { UserRef } from '@roster/shared';

/**
 * A list row's reference to a person (a project's owner or member, an application's people) with
 * their name as `user.updated` now gives it. Staff receive that event for everyone, a plain user
 * only their own; a rename is not fanned out as events about every project or application naming them.
 */
export function withName<T extends UserRef>(ref: T, user: UserRef): T {
  return ref.id === user.id ? { ...ref, username: user.username, display_name: user.display_name } : ref;
}
