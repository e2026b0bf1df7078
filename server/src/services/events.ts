import type { Sql, TransactionSql } from 'postgres';

export const EVENTS_CHANNEL = 'roster_events';

export interface Actor {
  id: string | null;
  label: string;
  ip: string | null;
}

export interface NewEvent {
  action: string;
  targetType: string;
  targetId: string | null;
  targetLabel: string | null;
  data?: Record<string, unknown>;
  version?: number | null;
}

/** The command line acts as this actor in the audit log. */
export const cliActor: Actor = { id: null, label: 'cli', ip: null };

/**
 * Writes an audit event and announces its id, inside the caller's transaction: PostgreSQL delivers
 * the notification only on commit, so an event is announced if and only if its change is durable.
 */
export async function recordEvent(tx: TransactionSql | Sql, actor: Actor, event: NewEvent): Promise<number> {
  const [row] = await tx<{ id: string }[]>`
    INSERT INTO events (actor_id, actor_label, action, target_type, target_id, target_label, data, version, ip)
    VALUES (${actor.id}, ${actor.label}, ${event.action}, ${event.targetType}, ${event.targetId},
            ${event.targetLabel}, ${tx.json((event.data ?? {}) as never)}, ${event.version ?? null}, ${actor.ip})
    RETURNING id`;
  await tx`SELECT pg_notify(${EVENTS_CHANNEL}, ${row!.id})`;
  return Number(row!.id);
}
