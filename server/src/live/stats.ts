import type { Sql } from 'postgres';
import type { Logger } from '../logger.ts';
import { userStats } from '../services/users/listing.ts';
import type { ConnectionRegistry } from './connections.ts';
import { STAFF_ROOMS, type LiveServer } from './sockets.ts';

// Stats go out at most this often, however many changes arrive.
const BROADCAST_INTERVAL_MS = 250;

/**
 * The stats cards' numbers, sent to staff after changes. Every node sees every data event and
 * tells its own staff sockets; a connection coming or going is seen only by its node, which then
 * tells the staff on every node (`clusterWide`).
 */
export class StatsBroadcaster {
  private timer: NodeJS.Timeout | null = null;
  private clusterWide = false;
  // One broadcast at a time: a read that overlapped a slower one could be sent before it. Changes
  // during a broadcast are sent by the next, scheduled when it ends. (Pushes from different nodes
  // can still cross; they carry `seq`, and the console keeps the newest.)
  private sending = false;
  private changedWhileSending = false;
  private stopped = false;

  constructor(
    private readonly io: LiveServer,
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly connections: ConnectionRegistry,
  ) {}

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  schedule(clusterWide = false) {
    if (this.stopped) return;
    this.clusterWide ||= clusterWide;
    if (this.sending) {
      this.changedWhileSending = true;
      return;
    }
    this.timer ??= setTimeout(() => void this.broadcast(), BROADCAST_INTERVAL_MS);
  }

  private async broadcast() {
    this.timer = null;
    this.sending = true;
    const everywhere = this.clusterWide;
    this.clusterWide = false;
    try {
      const stats = await userStats(this.sql, this.connections.onlineUserCount());
      if (!this.stopped) (everywhere ? this.io : this.io.local).to(STAFF_ROOMS).emit('stats', stats);
    } catch (error) {
      this.log.warn({ err: error }, 'stats broadcast failed');
    } finally {
      this.sending = false;
      if (this.changedWhileSending) {
        this.changedWhileSending = false;
        this.schedule();
      }
    }
  }
}
