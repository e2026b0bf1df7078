import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.ts';
import { STAFF_ROOMS, type Connection, type LiveServer, type NodeEvents } from './sockets.ts';

// Who has a live connection, on every node, kept in memory from connect and disconnect events:
// answering "is this session online", "how many users are online" and the staff's online dots
// reads this map, not every node's sockets. Nodes tell each other through the Socket.IO adapter
// (`serverSideEmit`): changes as they happen, and each node's whole list every few seconds, which
// also says it is alive; a node not heard from for a while is forgotten with its connections.

// Changes are gathered this long, then sent to the other nodes and the staff at once.
const FLUSH_MS = 250;
// Each node sends its whole list this often...
const SYNC_MS = 5000;
// ...and is forgotten when it has not for this long (it died, or the network split).
const NODE_TIMEOUT_MS = 15_000;

interface NodeState {
  /** session id → [user id, connections of that session on the node] */
  sessions: Map<string, { userId: string; count: number }>;
  heardAt: number;
}

export class ConnectionRegistry {
  private readonly nodeId = randomUUID();
  private readonly nodes = new Map<string, NodeState>();
  private online: Connection[] = [];
  private offline: Connection[] = [];
  private timers: NodeJS.Timeout[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  /** `onRemoteChange`: another node's connections changed (who is online may have). */
  constructor(
    private readonly io: LiveServer,
    private readonly log: Logger,
    private readonly onRemoteChange: () => void,
  ) {
    this.nodes.set(this.nodeId, { sessions: new Map(), heardAt: Infinity });
    io.on('roster:connections', (changes) => this.applyChanges(changes));
    io.on('roster:connections-list', (list) => this.applyList(list));
    io.on('roster:connections-ask', () => this.sendList());
  }

  start() {
    this.timers = [setInterval(() => this.sendList(), SYNC_MS), setInterval(() => this.forgetSilentNodes(), SYNC_MS)];
    for (const timer of this.timers) timer.unref();
    // A node that starts asks the others for their lists instead of waiting for the next round.
    this.tellNodes(() => this.io.serverSideEmit('roster:connections-ask'));
  }

  /** Leaving: the other nodes forget this node's connections now rather than after its silence. */
  stop() {
    for (const timer of this.timers) clearInterval(timer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.tellNodes(() => this.io.serverSideEmit('roster:connections-list', { node: this.nodeId, sessions: [] }));
  }

  connected(userId: string, sessionId: string) {
    const sessions = this.nodes.get(this.nodeId)!.sessions;
    const entry = sessions.get(sessionId) ?? { userId, count: 0 };
    entry.count += 1;
    sessions.set(sessionId, entry);
    if (entry.count === 1) this.queue(this.online, [userId, sessionId]);
  }

  disconnected(userId: string, sessionId: string) {
    const sessions = this.nodes.get(this.nodeId)!.sessions;
    const entry = sessions.get(sessionId);
    if (!entry) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    sessions.delete(sessionId);
    if (!this.isOnline(sessionId)) this.queue(this.offline, [userId, sessionId]);
  }

  /** Every connected session on every node heard from. */
  all(): Connection[] {
    const seen = new Map<string, string>();
    for (const node of this.nodes.values()) for (const [sessionId, { userId }] of node.sessions) seen.set(sessionId, userId);
    return [...seen].map(([sessionId, userId]) => [userId, sessionId]);
  }

  onlineSessionIds(): Set<string> {
    return new Set(this.all().map(([, sessionId]) => sessionId));
  }

  onlineUserCount(): number {
    return new Set(this.all().map(([userId]) => userId)).size;
  }

  private isOnline(sessionId: string): boolean {
    for (const node of this.nodes.values()) if (node.sessions.has(sessionId)) return true;
    return false;
  }

  private queue(list: Connection[], connection: Connection) {
    list.push(connection);
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Sends the gathered changes to the other nodes, and to the staff of this node. */
  private flush() {
    this.flushTimer = null;
    const changes = { node: this.nodeId, online: this.online, offline: this.offline };
    this.online = [];
    this.offline = [];
    this.tellNodes(() => this.io.serverSideEmit('roster:connections', changes));
    this.io.local.to(STAFF_ROOMS).emit('connections', { online: changes.online, offline: changes.offline, snapshot: false });
  }

  private applyChanges(changes: Parameters<NodeEvents['roster:connections']>[0]) {
    const node = this.remote(changes.node);
    for (const [userId, sessionId] of changes.online) node.sessions.set(sessionId, { userId, count: 1 });
    for (const [, sessionId] of changes.offline) node.sessions.delete(sessionId);
    // Each node tells its own staff sockets what changed anywhere.
    this.io.local.to(STAFF_ROOMS).emit('connections', { online: changes.online, offline: changes.offline, snapshot: false });
    this.onRemoteChange();
  }

  private applyList(list: Parameters<NodeEvents['roster:connections-list']>[0]) {
    const node = this.remote(list.node);
    node.sessions = new Map(list.sessions.map(([userId, sessionId]) => [sessionId, { userId, count: 1 }]));
  }

  private sendList() {
    const sessions = [...this.nodes.get(this.nodeId)!.sessions].map(([sessionId, { userId }]): Connection => [userId, sessionId]);
    this.tellNodes(() => this.io.serverSideEmit('roster:connections-list', { node: this.nodeId, sessions }));
  }

  private remote(nodeId: string): NodeState {
    const node = this.nodes.get(nodeId) ?? { sessions: new Map(), heardAt: 0 };
    node.heardAt = Date.now();
    this.nodes.set(nodeId, node);
    return node;
  }

  private forgetSilentNodes() {
    for (const [nodeId, node] of this.nodes) {
      if (Date.now() - node.heardAt < NODE_TIMEOUT_MS) continue;
      this.nodes.delete(nodeId);
      this.log.warn({ node: nodeId, connections: node.sessions.size }, 'a node went silent; its connections are counted offline');
      const gone = [...node.sessions].filter(([sessionId]) => !this.isOnline(sessionId)).map(([sessionId, { userId }]): Connection => [userId, sessionId]);
      if (gone.length > 0) this.io.local.to(STAFF_ROOMS).emit('connections', { online: [], offline: gone, snapshot: false });
    }
  }

  private tellNodes(send: () => void) {
    try {
      send();
    } catch (error) {
      this.log.warn({ err: error }, 'could not tell the other nodes about connections');
    }
  }
}
