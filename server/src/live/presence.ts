import { presenceUpdateSchema, type Presence, type PresenceUser } from '@roster/shared';
import type { Logger } from '../logger.ts';
import { isStaff } from './audience.ts';
import { STAFF_ROOMS, type LiveServer, type LiveSocket } from './sockets.ts';

// How long a cluster-wide socket query waits for the other nodes (the adapter's default is 5 s).
const PEER_ANSWER_MS = 2000;
// Presence goes out at most this often, however many changes arrive.
const BROADCAST_INTERVAL_MS = 50;

/**
 * Which staff are online on any node and what each views or edits, from the staff sockets of every
 * node (the Socket.IO PostgreSQL adapter answers for the others). Who else is connected is the
 * connection registry's job (connections.ts).
 */
export class PresenceTracker {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly io: LiveServer,
    private readonly log: Logger,
  ) {}

  stop() {
    if (this.timer) clearTimeout(this.timer);
  }

  /** A staff socket's `presence` message: what it views and edits now (others' are ignored). */
  update(socket: LiveSocket, message: unknown) {
    if (!isStaff(socket.data.user.role)) return;
    const parsed = presenceUpdateSchema.safeParse(message);
    if (!parsed.success) return;
    socket.data.presence = {
      viewing: parsed.data.viewing === undefined ? socket.data.presence.viewing : parsed.data.viewing,
      editing: parsed.data.editing === undefined ? socket.data.presence.editing : parsed.data.editing,
    };
    this.schedule();
  }

  schedule() {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.broadcast();
    }, BROADCAST_INTERVAL_MS);
  }

  /**
   * Who is online among the staff, on every node, and what each views or edits: only the staff
   * rooms' sockets are asked for. A node that died is still asked until the adapter's heartbeat
   * drops it (about 10 s), and the query then fails; meanwhile answer from this node's sockets.
   */
  async presence(): Promise<Presence> {
    let sockets;
    try {
      sockets = await this.io.in(STAFF_ROOMS).timeout(PEER_ANSWER_MS).fetchSockets();
    } catch (error) {
      this.log.warn({ err: error }, "a node did not answer in time; counting this node's staff only");
      sockets = await this.io.local.in(STAFF_ROOMS).fetchSockets();
    }
    const online = new Map<string, PresenceUser>();
    const viewing: Record<string, string[]> = {};
    const editing: Record<string, string[]> = {};
    const add = (map: Record<string, string[]>, key: string | null, value: string) => {
      if (key && !(map[key] ??= []).includes(value)) map[key]!.push(value);
    };
    for (const { data } of sockets) {
      const { id, username, display_name, role } = data.user;
      online.set(id, { id, username, display_name, role });
      add(viewing, data.presence.viewing, id);
      add(editing, data.presence.editing, id);
    }
    return { online: [...online.values()], viewing, editing };
  }

  private async broadcast() {
    try {
      this.io.to(STAFF_ROOMS).emit('presence', await this.presence());
    } catch (error) {
      this.log.warn({ err: error }, 'presence broadcast failed');
    }
  }
}
