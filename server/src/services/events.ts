import type { Sql, TransactionSql } from 'postgres';
import { auditEventSchema, type AuditEvent, type EventAction, type EventOf } from '@roster/shared';
import { assertActorChecked, type Actor } from '../data/locks.ts';
import { beforeCommit } from '../data/transaction.ts';

export type { Actor };

export const EVENTS_CHANNEL = 'roster_events';
// Held from an event's insert to its transaction's commit, so sequence numbers commit in order and
// a client resuming "after N" can never miss an event numbered below N that committed later. It is
// the last lock a transaction takes (data/locks.ts): events are written just before commit.
const EVENT_ORDER_LOCK = 7_264_003;

/** An event to record: a union on `action`, so each action takes only its own target type and data. */
export type NewEvent = {
  [A in EventAction]: {
    action: A;
    targetType: EventOf<A>['target_type'];
    targetId: string | null;
    targetLabel: string | null;
    data: EventOf<A>['data'];
    version?: number | null;
  };
}[EventAction];

/** The command line acts as this actor in the audit log. */
export const cliActor: Actor = { id: null, label: 'cli', ip: null };

const pending = new WeakMap<TransactionSql, { actor: Actor; event: NewEvent }[]>();

/**
 * Records an audit event in the caller's transaction (opened with `transaction()`). The events of a
 * transaction are written together just before it commits, after all of its row locks, and each is
 * announced with `pg_notify`: PostgreSQL delivers notifications only on commit, so an event is
 * announced if and only if its change is durable.
 */
export function recordEvent(tx: TransactionSql, actor: Actor, event: NewEvent): void {
  assertActorChecked(tx, actor);
  let queue = pending.get(tx);
  if (!queue) {
    const events: { actor: Actor; event: NewEvent }[] = [];
    pending.set(tx, (queue = events));
    beforeCommit(tx, () => writeEvents(tx, events));
  }
  queue.push({ actor, event });
}

async function writeEvents(tx: TransactionSql, events: { actor: Actor; event: NewEvent }[]): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${EVENT_ORDER_LOCK})`;
  for (const { actor, event } of events) {
    const [row] = await tx<{ id: string }[]>`
      INSERT INTO events (actor_id, actor_label, action, target_type, target_id, target_label, data, version, ip)
      VALUES (${actor.id}, ${actor.label}, ${event.action}, ${event.targetType}, ${event.targetId},
              ${event.targetLabel}, ${tx.json(event.data)}, ${event.version ?? null}, ${actor.ip})
      RETURNING id`;
    await tx`SELECT pg_notify(${EVENTS_CHANNEL}, ${row!.id})`;
  }
}

export interface EventRow {
  id: string;
  at: Date;
  actor_id: string | null;
  actor_label: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  target_label: string | null;
  data: unknown;
  version: number | null;
  ip: string | null;
}
// Named, not `*`: the rest of a row is spread into the event it becomes.
const EVENT_COLUMNS = ['id', 'at', 'actor_id', 'actor_label', 'action', 'target_type', 'target_id', 'target_label', 'data', 'version', 'ip'] as const;

/**
 * The event a row records, or null when its data is not what its action carries: `recordEvent`
 * writes only such rows, but one written by hand, or by a version of Roster whose payloads differ,
 * must not reach code that relies on the types, so it is neither sent nor listed. The check costs
 * a few microseconds; the row itself is passed on, with anything this version does not know.
 */
export function toAuditEvent({ id, at, actor_id, actor_label, ...recorded }: EventRow): AuditEvent | null {
  const event = { seq: Number(id), at: at.toISOString(), actor: { id: actor_id, label: actor_label }, ...recorded };
  return isAuditEvent(event) ? event : null;
}

function isAuditEvent(value: unknown): value is AuditEvent {
  return auditEventSchema.safeParse(value).success;
}

/** The audit log, newest first, paged backwards with `before`. */
export async function listEvents(
  sql: Sql,
  query: { before?: number; after?: number; actor_id?: string; target_id?: string; action?: string; limit: number },
): Promise<{ items: AuditEvent[]; next_cursor: number | null; seq: number }> {
  // With `seq`, the newest event of the whole log, which a filtered page's entries do not tell.
  const { result: rows, seq } = await readWithSeq(
    sql,
    (tx) => tx<EventRow[]>`
      SELECT ${tx(EVENT_COLUMNS)} FROM events
      WHERE true
        ${query.before !== undefined ? tx`AND id < ${query.before}` : tx``}
        ${query.after !== undefined ? tx`AND id > ${query.after}` : tx``}
        ${query.actor_id ? tx`AND actor_id = ${query.actor_id}` : tx``}
        ${query.target_id ? tx`AND target_id = ${query.target_id}` : tx``}
        ${query.action ? tx`AND action = ${query.action}` : tx``}
      ORDER BY id DESC
      LIMIT ${query.limit + 1}`,
  );
  const page = rows.slice(0, query.limit);
  return {
    items: page.map(toAuditEvent).filter((event) => event !== null),
    next_cursor: rows.length > query.limit ? Number(page.at(-1)!.id) : null,
    seq,
  };
}

/** Events after `after`, oldest first; for a plain user only those about them (as the hub's `canSee`). */
export async function eventsSince(sql: Sql, after: number, limit: number, onlyAboutUser: string | null): Promise<EventRow[]> {
  return sql<EventRow[]>`
    SELECT ${sql(EVENT_COLUMNS)} FROM events
    WHERE id > ${after}
      ${onlyAboutUser ? sql`AND (target_id = ${onlyAboutUser} OR data->>'user_id' = ${onlyAboutUser} OR data->'audience' ? ${onlyAboutUser})` : sql``}
    ORDER BY id
    LIMIT ${limit}`;
}

/**
 * True while every event after `after` still exists, i.e. audit retention has removed none of them
 * (it removes from the oldest end and records the highest sequence it removed). Check it after
 * reading the replay: a removal committed in between then shows here rather than as a gap.
 */
export async function isResumable(sql: Sql, after: number): Promise<boolean> {
  const [row] = await sql<{ through: string }[]>`SELECT through FROM events_pruned`;
  return after >= Number(row!.through);
}

/**
 * The newest event committed, as the caller's snapshot sees it. Events commit in sequence order
 * (EVENT_ORDER_LOCK), so a snapshot holds every event up to this one and none after: what a read in
 * the same snapshot shows reflects exactly the events up to here. (Retention keeps the newest
 * events and records how far it removed, so this holds even for a table emptied by hand.)
 */
export async function latestEventSeq(sql: Sql | TransactionSql): Promise<number> {
  const [row] = await sql<{ seq: string }[]>`
    SELECT greatest((SELECT coalesce(max(id), 0) FROM events), (SELECT through FROM events_pruned)) AS seq`;
  return Number(row!.seq);
}

/**
 * Runs `read` in one read-only snapshot with the newest event it reflects: the answer of a list the
 * console keeps current with the live feed, which applies to it only the events after `seq`.
 */
export async function readWithSeq<T>(sql: Sql, read: (tx: TransactionSql) => Promise<T>): Promise<{ result: T; seq: number }> {
  return (await sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    // Sent together, in this order: one round trip, and `seq` is read before `read` may switch to
    // a restricted role (projects.ts) that cannot read `events_pruned`.
    const [seq, result] = await Promise.all([latestEventSeq(tx), read(tx)]);
    return { result, seq };
  })) as { result: T; seq: number };
}
