import type { Server as HttpServer } from 'node:http';
import { parse as parseCookies } from 'hono/utils/cookie';
import type { Sql } from 'postgres';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import { Server, type Socket } from 'socket.io';
import {
  MAX_REPLAY,
  presenceUpdateSchema,
  resumeRequestSchema,
  staffRoles,
  type AuditEvent,
  type ClientToServerEvents,
  type Presence,
  type PresenceUser,
  type Role,
  type ServerToClientEvents,
  type SessionEndReason,
} from '@roster/shared';
import { SESSION_COOKIE, validateSessionToken, type SessionRow, type SessionUser } from '../auth/sessions.ts';
import type { DatabaseWatch } from '../database-watch.ts';
import type { Logger } from '../logger.ts';
import { EVENTS_CHANNEL, eventsSince, latestEventSeq, toAuditEvent, type EventRow } from '../services/events.ts';
import { userStats } from '../services/users.ts';

interface SocketData {
  user: SessionUser;
  session: SessionRow;
  presence: { viewing: string | null; editing: string | null };
  /** Highest sequence sent to this socket. */
  delivered: number;
  /** Live events held back while a resume replays older ones (null once the socket is live). */
  pending: AuditEvent[] | null;
}

type LiveServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

const STAFF_ROOMS = staffRoles.map((role) => `role:${role}`);
const isStaff = (role: Role) => (staffRoles as readonly Role[]).includes(role);
// A socket that does not send `resume` this soon after connecting goes live from where it connected.
const RESUME_GRACE_MS = 1500;
// Stats and presence go out at most this often, however many changes arrive.
const BROADCAST_INTERVAL_MS = 250;
// How often open sockets are checked against their sessions (for expiry; revocations act at once).
const SESSION_SWEEP_MS = 60_000;
// How long a cluster-wide socket query waits for the other nodes (the adapter's default is 5 s).
const PEER_ANSWER_MS = 2000;

export interface LiveHubOptions {
  sql: Sql;
  /** Handshakes are refused with `unavailable` at once while the database is down. */
  database: DatabaseWatch;
  /** For the Socket.IO PostgreSQL adapter (its own small pool), which carries presence and socket queries across nodes. */
  databaseUrl: string;
  log: Logger;
  origins: string[];
  idleMs: number;
}

/**
 * The live channel: authenticates handshakes, fans the LISTEN/NOTIFY feed out to the sockets
 * allowed to see each event, replays missed events on `resume`, ends the sockets of revoked
 * sessions, and broadcasts stats and presence.
 */
export class LiveHub {
  readonly io: LiveServer;
  /** Highest event sequence this node has fanned out. */
  private seq = 0;
  private fanOutChain: Promise<void> = Promise.resolve();
  /** The dedicated connection that LISTENs for new events; replaced whenever it drops. */
  private listener: pg.Client | null = null;
  private closing = false;
  private statsTimer: NodeJS.Timeout | null = null;
  private statsClusterWide = false;
  private presenceTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly adapterPool: pg.Pool;

  constructor(
    httpServer: HttpServer,
    private readonly options: LiveHubOptions,
  ) {
    const allowed = new Set(options.origins);
    this.adapterPool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
    // The adapter's listening client is checked out of the pool, where an unhandled 'error' (the
    // database restarting) would crash the process; the adapter reconnects on the 'end' that follows.
    this.adapterPool.on('error', (error) => options.log.warn({ err: error }, 'socket.io adapter pool error'));
    this.adapterPool.on('connect', (client) => client.on('error', (error) => options.log.warn({ err: error }, 'socket.io adapter connection lost')));
    this.io = new Server(httpServer, {
      path: '/socket.io',
      serveClient: false,
      adapter: createAdapter(this.adapterPool, {
        errorHandler: (error) => options.log.warn({ err: error }, 'socket.io adapter error'),
      }),
      // Cross-site websocket hijacking: refuse foreign origins before any upgrade.
      allowRequest: (req, callback) => {
        const ok = Boolean(req.headers.origin && allowed.has(req.headers.origin));
        callback(ok ? null : 'Origin not allowed', ok);
      },
    });
    this.io.use((socket, next) => void this.authenticate(socket, next));
    this.io.on('connection', (socket) => this.onConnection(socket));
  }

  async start(): Promise<void> {
    this.seq = await latestEventSeq(this.options.sql);
    await this.listen();
    this.sweepTimer = setInterval(() => void this.sweepSessions(), SESSION_SWEEP_MS);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    // Tell this node's clients that this is a shutdown, not a sign-out, before closing their connections.
    this.io.local.emit('server.draining');
    for (const timer of [this.statsTimer, this.presenceTimer]) if (timer) clearTimeout(timer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.closing = true;
    await this.listener?.end().catch(() => undefined);
    await this.fanOutChain;
    await this.io.close();
    // After a database restart the adapter can keep a dead client checked out, and pg's pool.end()
    // waits for every checked-out client: bound the wait, the process is closing these sockets anyway.
    await Promise.race([this.adapterPool.end(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }

  // ---- Handshake and connection ---------------------------------------------------------------

  private async authenticate(socket: LiveSocket, next: (error?: Error) => void) {
    const token = parseCookies(socket.request.headers.cookie ?? '', SESSION_COOKIE)[SESSION_COOKIE];
    let validated: Awaited<ReturnType<typeof validateSessionToken>> = null;
    try {
      validated = token ? await this.options.database.guard(() => validateSessionToken(this.options.sql, token, this.options.idleMs)) : null;
    } catch (error) {
      // The database is unreachable: not a verdict on the session. The client retries.
      this.options.log.warn({ err: error }, 'socket session check failed');
      return next(Object.assign(new Error('unavailable'), { data: { code: 'unavailable' } }));
    }
    if (!validated) return next(Object.assign(new Error('unauthenticated'), { data: { code: 'unauthenticated' } }));
    socket.data.user = validated.user;
    socket.data.session = validated.session;
    socket.data.presence = { viewing: null, editing: null };
    socket.data.delivered = this.seq;
    socket.data.pending = [];
    next();
  }

  private onConnection(socket: LiveSocket) {
    const { user, session } = socket.data;
    void socket.join([`user:${user.id}`, `role:${user.role}`, `session:${session.id}`]);
    const grace = setTimeout(() => this.goLive(socket), RESUME_GRACE_MS);
    socket.on('resume', (request, ack) => {
      clearTimeout(grace);
      void this.resume(socket, request, ack);
    });
    socket.on('presence', (update) => this.updatePresence(socket, update));
    socket.on('disconnect', () => {
      clearTimeout(grace);
      this.schedulePresence();
      this.scheduleStats(true);
    });
    this.schedulePresence();
    this.scheduleStats(true);
  }

  // ---- Fan-out --------------------------------------------------------------------------------

  /**
   * LISTENs on a connection of its own. When that connection drops (the database restarted, the
   * network failed), it is replaced, retrying every second until the database answers; then a
   * catch-up reads whatever was committed while nobody listened, so no event is lost.
   */
  private async listen(): Promise<void> {
    while (!this.closing) {
      const listener = new pg.Client({ connectionString: this.options.databaseUrl, connectionTimeoutMillis: 5000 });
      listener.on('notification', (message) => message.channel === EVENTS_CHANNEL && this.scheduleFanOut());
      listener.on('error', (error) => this.options.log.warn({ err: error }, 'event listener connection lost'));
      listener.on('end', () => {
        if (this.listener !== listener || this.closing) return;
        this.listener = null;
        void this.listen();
      });
      try {
        await listener.connect();
        await listener.query(`LISTEN "${EVENTS_CHANNEL}"`);
        this.listener = listener;
        this.scheduleFanOut();
        return;
      } catch (error) {
        this.options.log.warn({ err: error }, 'cannot LISTEN for events; retrying');
        await listener.end().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** Runs one catch-up after the current one: events are read and sent strictly in sequence order. */
  private scheduleFanOut() {
    this.fanOutChain = this.fanOutChain.then(() => this.fanOut()).catch((error: unknown) => {
      this.options.log.error({ err: error }, 'live fan-out failed');
    });
  }

  private async fanOut() {
    for (;;) {
      const rows = await eventsSince(this.options.sql, this.seq, 500, null);
      if (rows.length === 0) return;
      for (const row of rows) this.deliver(row);
      this.seq = Number(rows.at(-1)!.id);
    }
  }

  private deliver(row: EventRow) {
    const event = toAuditEvent(row);
    const recipients: string[] = [];
    for (const socket of this.io.of('/').sockets.values()) {
      if (!canSee(socket.data.user, event)) continue;
      if (socket.data.pending) socket.data.pending.push(event);
      else if (event.seq > socket.data.delivered) {
        socket.data.delivered = event.seq;
        recipients.push(socket.id);
      }
    }
    // One broadcast, encoded once, to every socket that is live and allowed to see the event.
    if (recipients.length > 0) this.io.local.to(recipients).emit('event', event);
    this.applySideEffects(event);
  }

  private applySideEffects(event: AuditEvent) {
    if (event.action === 'session.revoked' && event.target_id) {
      this.endSession(event.target_id, (event.data.reason as SessionEndReason | undefined) ?? 'revoked');
    }
    if (event.action === 'user.updated' && event.target_id) {
      const role = (event.data.changes as Record<string, { to: unknown }> | undefined)?.role?.to as Role | undefined;
      if (role) this.moveToRole(event.target_id, role);
    }
    if (event.action.startsWith('user.') || event.action.startsWith('session.')) this.scheduleStats();
  }

  /** Tells a session's sockets on this node why, then closes them (every node does the same for its own). */
  private endSession(sessionId: string, reason: SessionEndReason) {
    const room = `session:${sessionId}`;
    this.io.local.to(room).emit('session.ended', { reason });
    this.io.local.in(room).disconnectSockets(true);
  }

  /** A role change applies to open connections at once: new rooms, new visibility. */
  private moveToRole(userId: string, role: Role) {
    for (const socket of this.io.of('/').sockets.values()) {
      if (socket.data.user.id !== userId) continue;
      void socket.leave(`role:${socket.data.user.role}`);
      socket.data.user = { ...socket.data.user, role };
      void socket.join(`role:${role}`);
    }
    this.schedulePresence();
  }

  // ---- Resume ---------------------------------------------------------------------------------

  private async resume(
    socket: LiveSocket,
    request: unknown,
    ack: ((result: { seq: number; replayed: number } | { error: string }) => void) | undefined,
  ) {
    const reply = typeof ack === 'function' ? ack : () => undefined;
    const parsed = resumeRequestSchema.safeParse(request);
    if (!parsed.success) return reply({ error: 'resume needs {after: a sequence number} or {}' });
    // Live events are held back while the replay runs; whatever both paths carry is sent once,
    // because each socket remembers the highest sequence it was sent.
    socket.data.pending ??= [];
    try {
      if (parsed.data.after === undefined) {
        socket.data.delivered = Math.max(socket.data.delivered, await latestEventSeq(this.options.sql));
        this.goLive(socket);
        return reply({ seq: socket.data.delivered, replayed: 0 });
      }
      const { user } = socket.data;
      const rows = await eventsSince(this.options.sql, parsed.data.after, MAX_REPLAY + 1, isStaff(user.role) ? null : user.id);
      if (rows.length > MAX_REPLAY) {
        // Too far behind to replay: the client refetches its lists and continues from here.
        const seq = await latestEventSeq(this.options.sql);
        socket.data.delivered = seq;
        socket.emit('resync', { seq });
        this.goLive(socket);
        return reply({ seq, replayed: 0 });
      }
      const events = rows.map(toAuditEvent);
      for (const event of events) socket.emit('event', event);
      socket.data.delivered = Math.max(parsed.data.after, events.at(-1)?.seq ?? 0);
      this.goLive(socket);
      reply({ seq: socket.data.delivered, replayed: events.length });
    } catch (error) {
      this.options.log.error({ err: error }, 'resume failed');
      this.goLive(socket);
      reply({ error: 'resume failed; refetch' });
    }
  }

  /** Sends what was held back during a replay (skipping what the replay already sent), then streams live. */
  private goLive(socket: LiveSocket) {
    const pending = socket.data.pending;
    if (!pending) return;
    socket.data.pending = null;
    for (const event of pending) {
      if (event.seq <= socket.data.delivered) continue;
      socket.data.delivered = event.seq;
      socket.emit('event', event);
    }
  }

  // ---- Sessions, stats, presence ---------------------------------------------------------------

  /** Ends sockets whose session expired or vanished without an event (revocations act immediately). */
  private async sweepSessions() {
    const sockets = [...this.io.of('/').sockets.values()];
    if (sockets.length === 0) return;
    const ids = [...new Set(sockets.map((s) => s.data.session.id))];
    const alive = await this.options.sql<{ id: string }[]>`
      SELECT id FROM sessions WHERE id = ANY(${ids}) AND expires_at > now()`.catch(() => null);
    if (!alive) return;
    const aliveIds = new Set(alive.map((r) => r.id));
    for (const id of ids) if (!aliveIds.has(id)) this.endSession(id, 'expired');
  }

  /**
   * Every node's sockets. A node that died is still asked until the adapter's heartbeat drops it
   * (about 10 s), and the query then fails; meanwhile answer from this node's own sockets.
   */
  private async clusterSockets() {
    try {
      return await this.io.timeout(PEER_ANSWER_MS).fetchSockets();
    } catch (error) {
      this.options.log.warn({ err: error }, "a node did not answer in time; counting this node's sockets only");
      return this.io.local.fetchSockets();
    }
  }

  async onlineUserCount(): Promise<number> {
    const sockets = await this.clusterSockets();
    return new Set(sockets.map((s) => s.data.user.id)).size;
  }

  async onlineSessionIds(): Promise<Set<string>> {
    const sockets = await this.clusterSockets();
    return new Set(sockets.map((s) => s.data.session.id));
  }

  /**
   * Every node sees every data event and tells its own staff sockets; a connection coming or going
   * is seen only by its node, which then tells the staff on every node (`clusterWide`).
   */
  private scheduleStats(clusterWide = false) {
    this.statsClusterWide ||= clusterWide;
    this.statsTimer ??= setTimeout(() => {
      this.statsTimer = null;
      const everywhere = this.statsClusterWide;
      this.statsClusterWide = false;
      void this.broadcastStats(everywhere);
    }, BROADCAST_INTERVAL_MS);
  }

  private async broadcastStats(clusterWide: boolean) {
    try {
      const stats = await userStats(this.options.sql, await this.onlineUserCount());
      (clusterWide ? this.io : this.io.local).to(STAFF_ROOMS).emit('stats', stats);
    } catch (error) {
      this.options.log.warn({ err: error }, 'stats broadcast failed');
    }
  }

  private updatePresence(socket: LiveSocket, update: unknown) {
    if (!isStaff(socket.data.user.role)) return;
    const parsed = presenceUpdateSchema.safeParse(update);
    if (!parsed.success) return;
    socket.data.presence = {
      viewing: parsed.data.viewing === undefined ? socket.data.presence.viewing : parsed.data.viewing,
      editing: parsed.data.editing === undefined ? socket.data.presence.editing : parsed.data.editing,
    };
    this.schedulePresence();
  }

  private schedulePresence() {
    this.presenceTimer ??= setTimeout(() => {
      this.presenceTimer = null;
      void this.broadcastPresence();
    }, BROADCAST_INTERVAL_MS / 5);
  }

  async presence(): Promise<Presence> {
    const sockets = await this.clusterSockets();
    const online = new Map<string, PresenceUser>();
    const viewing: Record<string, string[]> = {};
    const editing: Record<string, string[]> = {};
    const connected: Record<string, string[]> = {};
    const add = (map: Record<string, string[]>, key: string | null, value: string) => {
      if (key && !(map[key] ??= []).includes(value)) map[key]!.push(value);
    };
    for (const { data } of sockets) {
      const { id, username, display_name, role } = data.user;
      add(connected, id, data.session.id);
      if (!isStaff(role)) continue;
      online.set(id, { id, username, display_name, role });
      add(viewing, data.presence.viewing, id);
      add(editing, data.presence.editing, id);
    }
    return { online: [...online.values()], viewing, editing, connected };
  }

  private async broadcastPresence() {
    try {
      this.io.to(STAFF_ROOMS).emit('presence', await this.presence());
    } catch (error) {
      this.options.log.warn({ err: error }, 'presence broadcast failed');
    }
  }
}

/**
 * Staff see every event; a plain user sees only events about their own account, sessions, keys
 * and usage, and about projects they own or belong to (`audience`). Mirrors `eventsSince`.
 */
function canSee(user: SessionUser, event: AuditEvent): boolean {
  if (isStaff(user.role)) return true;
  const audience = event.data.audience;
  return event.target_id === user.id || event.data.user_id === user.id || (Array.isArray(audience) && audience.includes(user.id));
}
