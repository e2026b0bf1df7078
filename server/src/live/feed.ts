import type { Sql } from 'postgres';
import { MAX_REPLAY, type AuditEvent } from '@roster/shared';
import type { Logger } from '../logger.ts';
import { EVENTS_CHANNEL, eventsSince, isResumable, latestEventSeq, toAuditEvent, type EventRow } from '../services/events.ts';
import { eventFor, isStaff, plainUserView, plainUsersConcerned } from './audience.ts';
import { STAFF_ROOMS, userRoom, type LiveServer, type LiveSocket } from './sockets.ts';

// Replays running at once on this node; a reconnecting crowd (after a restart) queues for the database.
const MAX_CONCURRENT_REPLAYS = 8;

/**
 * The feed: every committed event, announced by PostgreSQL's NOTIFY, read in sequence order and
 * sent by audience: to the staff rooms whole (encoded once), and to the room of each plain user
 * it concerns in their view. The cost follows the recipients, not the number of sockets. A
 * reconnecting socket is first sent what it missed, then goes live.
 */
export class EventFeed {
  /** Highest sequence this node has fanned out. */
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private listening: { unlisten(): Promise<void> } | null = null;
  /** Sockets whose replay runs: they get live events into `pending`, not from the rooms. */
  private readonly replaying = new Set<LiveSocket>();
  private replaysRunning = 0;
  private readonly replayQueue: (() => void)[] = [];

  constructor(
    private readonly io: LiveServer,
    private readonly sql: Sql,
    private readonly log: Logger,
    /** Called for every event after it was sent (forced logouts, role moves, stats). */
    private readonly onEvent: (event: AuditEvent) => void,
  ) {}

  /**
   * postgres.js LISTENs on a connection of its own and listens again after it drops; each time it
   * (re)listens, a catch-up reads whatever was committed meanwhile, so no event is lost.
   */
  async start(): Promise<void> {
    this.seq = await latestEventSeq(this.sql);
    this.listening = await this.sql.listen(EVENTS_CHANNEL, () => this.catchUp(), () => this.catchUp());
  }

  /** The highest sequence this node has fanned out. */
  get position(): number {
    return this.seq;
  }

  async stop(): Promise<void> {
    await this.listening?.unlisten().catch(() => undefined);
    await this.chain;
  }

  /** A socket that just connected: live at once, or after the replay of what it missed. */
  connected(socket: LiveSocket): void {
    socket.data.delivered = this.seq;
    if (socket.data.resumeFrom === undefined) {
      socket.data.pending = null;
      socket.emit('live', { seq: this.seq, replayed: 0 });
      return;
    }
    socket.data.pending = [];
    this.replaying.add(socket);
    void this.replay(socket, socket.data.resumeFrom);
  }

  disconnected(socket: LiveSocket): void {
    this.replaying.delete(socket);
  }

  /** Runs one catch-up after the current one: events are read and sent strictly in sequence order. */
  private catchUp() {
    this.chain = this.chain.then(() => this.fanOut()).catch((error: unknown) => {
      this.log.error({ err: error }, 'live fan-out failed');
    });
  }

  private async fanOut() {
    for (;;) {
      const rows = await eventsSince(this.sql, this.seq, 500, null);
      if (rows.length === 0) return;
      for (const row of rows) this.deliver(row);
      this.seq = Number(rows.at(-1)!.id);
    }
  }

  private deliver(row: EventRow) {
    const event = toAuditEvent(row);
    if (!event) return void this.log.warn({ seq: row.id, action: row.action }, 'event row does not match its action; not sent');
    for (const socket of this.replaying) socket.data.pending!.push(event);
    const replayingIds = [...this.replaying].map((socket) => socket.id);
    this.io.local.to(STAFF_ROOMS).except(replayingIds).emit('event', event);
    for (const userId of plainUsersConcerned(event)) {
      // Staff in that room already have it whole.
      this.io.local.to(userRoom(userId)).except([...STAFF_ROOMS, ...replayingIds]).emit('event', plainUserView({ id: userId, role: 'user' }, event));
    }
    this.onEvent(event);
  }

  /**
   * Sends a reconnecting socket what it missed after `after` (as its audience may see it), then
   * what arrived meanwhile, then `live`. A client too far behind, or whose missed events audit
   * retention removed, is told to `resync` instead. Each sequence number reaches a socket at most
   * once: `delivered` only grows, and live events wait in `pending` until the replay is done.
   */
  private async replay(socket: LiveSocket, after: number) {
    await this.replaySlot();
    try {
      // Queued behind other replays, the socket may have gone: reading the log for it would only
      // delay everyone queued behind (a plain user's replay reads the log from `after` onwards).
      if (!socket.connected) return;
      const { user } = socket.data;
      const rows = await eventsSince(this.sql, after, MAX_REPLAY + 1, isStaff(user.role) ? null : user.id);
      // Checked after the read, so a removal committed in between shows here rather than as a gap.
      const resumable = await isResumable(this.sql, after);
      if (!socket.connected) return;
      let replayed = 0;
      if (rows.length > MAX_REPLAY || !resumable) {
        // The client refetches its lists and continues from here.
        socket.data.delivered = Math.max(socket.data.delivered, await latestEventSeq(this.sql));
        socket.emit('resync', { seq: socket.data.delivered });
      } else {
        for (const row of rows) {
          const event = toAuditEvent(row);
          const view = event && eventFor(user, event);
          if (!view) continue;
          socket.emit('event', view);
          replayed += 1;
        }
        socket.data.delivered = Math.max(after, Number(rows.at(-1)?.id ?? after));
      }
      this.goLive(socket, replayed);
    } catch (error) {
      this.log.error({ err: error }, 'replay failed');
      // The client could not be brought up to date: it reconnects and asks again.
      socket.disconnect(true);
    } finally {
      this.replaying.delete(socket);
      this.releaseReplaySlot();
    }
  }

  /** Sends what was held back during the replay (skipping what the replay sent), then says so. */
  private goLive(socket: LiveSocket, replayed: number) {
    const pending = socket.data.pending ?? [];
    socket.data.pending = null;
    this.replaying.delete(socket);
    for (const event of pending) {
      if (event.seq <= socket.data.delivered) continue;
      socket.data.delivered = event.seq;
      const view = eventFor(socket.data.user, event);
      if (view) socket.emit('event', view);
    }
    socket.emit('live', { seq: socket.data.delivered, replayed });
  }

  private replaySlot(): Promise<void> {
    if (this.replaysRunning < MAX_CONCURRENT_REPLAYS) {
      this.replaysRunning += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.replayQueue.push(resolve));
  }

  private releaseReplaySlot() {
    const next = this.replayQueue.shift();
    if (next) next();
    else this.replaysRunning -= 1;
  }
}
