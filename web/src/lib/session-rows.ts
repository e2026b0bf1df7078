import type { LiveEvent, SessionEntry } from '@roster/shared';
import { withApplicationEvent } from './session-applications';

export interface SessionFilters {
  q: string;
  online: '' | 'true' | 'false';
  ip: string;
  agent: string;
}

/** Whether a session that just began belongs in the list as filtered (the server decides for loaded pages). */
function matches(entry: SessionEntry, email: string, filters: SessionFilters): boolean {
  const q = filters.q.trim().toLowerCase();
  if (q && !`${entry.user.username} ${entry.user.display_name} ${email}`.toLowerCase().includes(q)) return false;
  if (filters.online === 'true') return false; // a new session has no live connection yet
  if (filters.agent && !(entry.user_agent ?? '').toLowerCase().includes(filters.agent.toLowerCase())) return false;
  // An address filter may be a network: only the server can tell; the next reload shows it.
  return !filters.ip;
}

/**
 * What one live event does to the loaded sessions (most recently used first): the entries after
 * it (the same array when it does not touch them), and the session that just began, to flash.
 */
export function applySessionEvent(items: SessionEntry[], event: LiveEvent, filters: SessionFilters): { items: SessionEntry[]; flash?: string } {
  switch (event.action) {
    case 'session.revoked':
      return { items: items.filter((s) => s.id !== event.target_id) };
    case 'session.revoked_all':
      return { items: items.filter((s) => s.id === event.data.kept_session_id) };
    case 'user.deleted':
      return { items: items.filter((s) => s.user_id !== event.target_id) };
    case 'user.updated': {
      // A new name is shown on their sessions; the search went by the old one, so only the server
      // can tell whether they still match it (the next load shows it).
      const { id, username, display_name } = event.data.user;
      if (!items.some((s) => s.user_id === id)) return { items };
      return { items: items.map((s) => (s.user_id === id ? { ...s, user: { id, username, display_name } } : s)) };
    }
    case 'session.created': {
      if (!event.target_id || items.some((s) => s.id === event.target_id)) return { items };
      const { user_id, display_name, email, ip, user_agent, expires_at, amr } = event.data;
      const entry: SessionEntry = {
        id: event.target_id,
        user_id,
        created_at: event.at,
        last_seen_at: event.at,
        authenticated_at: event.at,
        expires_at,
        ip,
        user_agent,
        amr: amr ?? ['pwd'],
        user: { id: user_id, username: event.target_label ?? '', display_name },
        applications: [],
        online: false,
        current: false,
      };
      if (!matches(entry, email ?? '', filters)) return { items };
      // The most recently used session: first in the list.
      return { items: [entry, ...items], flash: entry.id };
    }
    default:
      return { items: event.action.startsWith('application.') ? items.map((s) => withApplicationEvent(s, event)) : items };
  }
}
