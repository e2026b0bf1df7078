// For the unit tests beside the console's pure modules only: nothing in the console imports it.
import type { LiveEvent } from '@roster/shared';

type EventOf<A extends LiveEvent['action']> = Extract<LiveEvent, { action: A }>;

/**
 * An event as the live feed delivers it, by someone else unless `actor` says otherwise, with
 * `data` only as far as the code under test reads it.
 */
export function liveEvent<A extends LiveEvent['action']>(action: A, fields: Omit<Partial<EventOf<A>>, 'data'> & { data?: Partial<EventOf<A>['data']> }): LiveEvent {
  const base = { seq: 1, at: '2026-11-27T12:00:00Z', actor: { id: 'someone-else', label: 'Someone' }, target_id: null, target_label: null, version: null, ip: null };
  // Partial data on purpose: the tests give what the code under test reads, not a whole payload.
  return { ...base, action, ...fields } as unknown as EventOf<A>;
}

let ids = 0;
/** A fresh UUID-shaped id. */
export const testId = () => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`;
