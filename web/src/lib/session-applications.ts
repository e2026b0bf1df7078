import type { LiveEvent, SessionEntry } from '@roster/shared';

/**
 * A session entry as an application event leaves it: signed in to one more application, signed
 * out of one (in this session, or in all of the person's), or an application renamed or removed.
 */
export function withApplicationEvent(entry: SessionEntry, event: LiveEvent): SessionEntry {
  const id = event.target_id;
  const has = entry.applications.some((a) => a.id === id);
  switch (event.action) {
    case 'application.signed_in':
      if (event.data.session_id !== entry.id || has || !id) return entry;
      return { ...entry, applications: [...entry.applications, { id, name: event.target_label ?? '' }].sort((a, b) => a.name.localeCompare(b.name)) };
    case 'application.signed_out': {
      const applies = event.data.session_id ? event.data.session_id === entry.id : event.data.user_id === entry.user_id;
      return applies && has ? { ...entry, applications: entry.applications.filter((a) => a.id !== id) } : entry;
    }
    case 'application.deleted':
      return has ? { ...entry, applications: entry.applications.filter((a) => a.id !== id) } : entry;
    case 'application.updated':
      if (!has) return entry;
      if (event.data.ended_sign_ins) return { ...entry, applications: entry.applications.filter((a) => a.id !== id) };
      return { ...entry, applications: entry.applications.map((a) => (a.id === id ? { ...a, name: event.target_label ?? a.name } : a)) };
    default:
      return entry;
  }
}
