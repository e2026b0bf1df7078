import type { Session } from '@roster/shared';
import type { SessionRow } from '../auth/sessions.ts';

export function toSessionDto(row: SessionRow): Session {
  return {
    id: row.id,
    user_id: row.user_id,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    last_seen_at: row.last_seen_at.toISOString(),
    ip: row.ip,
    user_agent: row.user_agent,
  };
}
