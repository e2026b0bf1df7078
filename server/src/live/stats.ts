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

  constructor(
    private readonly io: LiveServer,
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly connections: ConnectionRegistry,
  ) {}

  stop() {
    if (this.timer) clearTimeout(this.timer);
  }

  schedule(clusterWide = false) {
    this.clusterWide ||= clusterWide;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      const everywhere = this.clusterWide;
      this.clusterWide = false;
      void this.broadcast(everywhere);
    }, BROADCAST_INTERVAL_MS);
  }

  private async broadcast(clusterWide: boolean) {
    try {
      const stats = await userStats(this.sql, this.connections.onlineUserCount());
      (clusterWide ? this.io : this.io.local).to(STAFF_ROOMS).emit('stats', stats);
    } catch (error) {
      this.log.warn({ err: error }, 'stats broadcast failed');
    }
  }
}
