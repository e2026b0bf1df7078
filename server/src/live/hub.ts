import type { Server as HttpServer } from 'node:http';
import { parse as parseCookies } from 'hono/utils/cookie';
import type { Sql } from 'postgres';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import { Server, type Socket } from 'socket.io';
import {
  MAX_REPLAY,
  liveHandshakeSchema,
  presenceUpdateSchema,
  staffRoles,
  type AuditEvent,
  type ClientToServerEvents,
  type Presence,
  type PresenceUser,
  type Role,
  type ServerToClientEvents,
  type SessionEndReason,
} from '@roster/shared';
import { SESSION_COOKIE, sessionOver, validateSessionToken, type SessionPolicy, type SessionRow, type SessionUser } from '../auth/sessions.ts';
import type { Logger } from '../logger.ts';
import { EVENTS_CHANNEL, eventsSince, isResumable, latestEventSeq, toAuditEvent, type EventRow } from '../services/events.ts';
import { userStats } from '../services/users/listing.ts';
import { eventFor, isStaff } from './audience.ts';
import { isBacklogged, limitMessages } from './socket-limits.ts';

interface SocketData {
  user: SessionUser;
  session: SessionRow;
  presence: { viewing: string | null; editing: string | null };
  /** Where the client resumes from (the handshake's `auth.after`); undefined: from now. */
  resumeFrom: number | undefined;
  /** Highest sequence sent to this socket: nothing at or below it is ever sent again. */
  delivered: number;
  /** Live events held back while the replay of what the client missed runs (null once live). */
  pending: AuditEvent[] | null;
}

type LiveServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

const STAFF_ROOMS = staffRoles.map((role) => `role:${role}`);
// Stats and presence go out at most this often, however many changes arrive.
const BROADCAST_INTERVAL_MS = 250;
// How often open sockets are checked against their sessions: expiry and idleness have no event.
const SESSION_SWEEP_MS = 15_000;
// How long a cluster-wide socket query waits for the other nodes (the adapter's default is 5 s).
const PEER_ANSWER_MS = 2000;
// Connections one session may hold on one node (browser tabs); more are refused.
const MAX_SOCKETS_PER_SESSION = 20;
// Reads of the session a handshake makes while events keep being fanned out meanwhile, before it
// gives up ('unavailable': the client retries).
const MAX_HANDSHAKE_READS = 5;
// Changes to users and sessions remembered for those handshakes: far more than one read can span.
const RECENT_CHANGES = 2000;
// Replays running at once on this node; a reconnecting crowd (after a restart) queues for the database.
const MAX_CONCURRENT_REPLAYS = 8;

export interface LiveHubOptions {
  sql: Sql;
  /** For the Socket.IO PostgreSQL adapter (its own small pool), which carries presence and socket queries across nodes. */
  databaseUrl: string;
  log: Logger;
  origins: string[];
  sessionPolicy: SessionPolicy;
}

/**
 * The live channel: authenticates handshakes, replays what a reconnecting client missed, fans the
 * LISTEN/NOTIFY feed out to the sockets allowed to see each event (shaped for each audience), ends
 * the sockets of revoked, expired and idle sessions, and broadcasts stats and presence.
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
  private replaysRunning = 0;
  /** The latest changes to users and sessions fanned out (at most RECENT_CHANGES), see `changedSince`. */
  private readonly recentChanges: { seq: number; userId: string | null; sessionId: string | null; all: boolean }[] = [];
  /** Changes numbered below this one are no longer remembered. */
  private recentChangesFrom = 0;
  private readonly replayQueue: (() => void)[] = [];

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
      // One message is a presence update of a few dozen bytes; nothing a client sends needs more.
      maxHttpBufferSize: 16 * 1024,
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
    const refuse = (code: string) => next(Object.assign(new Error(code), { data: { code } }));
    const handshake = liveHandshakeSchema.safeParse(socket.handshake.auth ?? {});
    if (!handshake.success) return refuse('invalid_resume_point');
    const token = parseCookies(socket.request.headers.cookie ?? '', SESSION_COOKIE)[SESSION_COOKIE];
    let validated: Awaited<ReturnType<typeof validateSessionToken>> = null;
    try {
      // Until `next()` the socket is not in the fan-out: a change to this user or session fanned out
      // while the session was read (a demotion, a password reset) would never reach it. Read again
      // until none went by.
      for (let attempt = 1; ; attempt++) {
        const fannedOut = this.seq;
        validated = token ? await validateSessionToken(this.options.sql, token, this.options.sessionPolicy) : null;
        if (!validated || !this.changedSince(fannedOut, validated.user.id, validated.session.id)) break;
        if (attempt === MAX_HANDSHAKE_READS) return refuse('unavailable');
      }
    } catch (error) {
      // The database is unreachable: not a verdict on the session. The client retries.
      this.options.log.warn({ err: error }, 'socket session check failed');
      return refuse('unavailable');
    }
    if (!validated) return refuse('unauthenticated');
    if (validated.user.password_change_required) return refuse('password_change_required');
    if ((this.io.of('/').adapter.rooms.get(`session:${validated.session.id}`)?.size ?? 0) >= MAX_SOCKETS_PER_SESSION) {
      return refuse('too_many_connections');
    }
    socket.data.user = validated.user;
    socket.data.session = validated.session;
    socket.data.presence = { viewing: null, editing: null };
    socket.data.resumeFrom = handshake.data.after;
    next();
  }

  private onConnection(socket: LiveSocket) {
    const { user, session } = socket.data;
    // From here on the socket is in the fan-out: a client starting afresh is live at once, one
    // resuming holds live events back until the replay of what it missed has been sent.
    socket.data.delivered = this.seq;
    socket.data.pending = socket.data.resumeFrom === undefined ? null : [];
    void socket.join([`user:${user.id}`, `role:${user.role}`, `session:${session.id}`]);
    limitMessages(socket, () => this.options.log.warn({ user: user.id }, 'live connection flooded messages; disconnected'));
    socket.on('presence', (update) => this.updatePresence(socket, update));
    socket.on('disconnect', () => {
      this.schedulePresence();
      this.scheduleStats(true);
    });
    if (socket.data.resumeFrom === undefined) socket.emit('live', { seq: socket.data.delivered, replayed: 0 });
    else void this.replay(socket, socket.data.resumeFrom);
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

  /**
   * Sends one event to every live socket allowed to see it, in the shape its audience may see:
   * staff get it whole in one broadcast (encoded once); a plain user gets their own view.
   */
  private deliver(row: EventRow) {
    const event = toAuditEvent(row);
    const staff: string[] = [];
    for (const socket of this.io.of('/').sockets.values()) {
      const view = eventFor(socket.data.user, event);
      if (!view) continue;
      if (socket.data.pending) {
        socket.data.pending.push(event);
        continue;
      }
      if (event.seq <= socket.data.delivered) continue;
      if (isBacklogged(socket)) {
        this.cutOff(socket);
        continue;
      }
      socket.data.delivered = event.seq;
      if (view === event) staff.push(socket.id);
      else socket.emit('event', view);
    }
    if (staff.length > 0) this.io.local.to(staff).emit('event', event);
    this.applySideEffects(event);
  }

  /** A client that does not read what it is sent is disconnected, not buffered for without end. */
  private cutOff(socket: LiveSocket) {
    this.options.log.warn({ user: socket.data.user.id }, 'live connection is not reading; disconnected');
    const transport = socket.conn.transport as unknown as { socket?: { terminate?: () => void } };
    socket.disconnect(true);
    // A graceful websocket close waits for the client to read a close frame, which it never does.
    transport.socket?.terminate?.();
  }

  /** Whether a change to `userId` or `sessionId` (or to every session) was fanned out after `seq`. */
  private changedSince(seq: number, userId: string, sessionId: string): boolean {
    if (this.seq === seq) return false;
    if (this.recentChangesFrom > seq + 1) return true; // no longer remembered: assume it was
    return this.recentChanges.some((c) => c.seq > seq && (c.all || c.userId === userId || c.sessionId === sessionId));
  }

  /** Remembers what an event changed about users and sessions, for handshakes reading meanwhile. */
  private rememberChange(event: AuditEvent) {
    if (!event.action.startsWith('user.') && !event.action.startsWith('session.')) return;
    const session = event.target_type === 'session';
    this.recentChanges.push({
      seq: event.seq,
      userId: session ? ((event.data.user_id as string | undefined) ?? null) : event.target_id,
      sessionId: session ? event.target_id : null,
      all: event.action === 'session.revoked_all',
    });
    if (this.recentChanges.length > RECENT_CHANGES) this.recentChangesFrom = this.recentChanges.shift()!.seq + 1;
  }

  private applySideEffects(event: AuditEvent) {
    this.rememberChange(event);
    if (event.action === 'session.revoked' && event.target_id) {
      this.endSession(event.target_id, (event.data.reason as SessionEndReason | undefined) ?? 'revoked');
    }
    if (event.action === 'session.revoked_all') this.endEverySession((event.data.kept_session_id as string | null) ?? null);
    // A password someone else set, with the sessions kept: until the user chooses their own, the live
    // channel refuses them, so their open connections must not stream on either.
    const reset = event.data.user as { password_change_required?: unknown } | undefined;
    if (event.action === 'user.password_reset' && event.target_id && reset?.password_change_required === true && event.data.revoke_sessions === false) {
      this.reconnectUser(event.target_id);
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

  /**
   * Closes a user's sockets on this node without signing them out ('server.draining' tells the
   * console so): it reconnects, and the handshake decides, e.g. sends it to "choose your password".
   */
  private reconnectUser(userId: string) {
    const room = `user:${userId}`;
    this.io.local.to(room).emit('server.draining');
    this.io.local.in(room).disconnectSockets(true);
  }

  private endEverySession(keptSessionId: string | null) {
    const rooms = keptSessionId ? this.io.local.except(`session:${keptSessionId}`) : this.io.local;
    rooms.emit('session.ended', { reason: 'revoked' });
    rooms.disconnectSockets(true);
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

  // ---- Replay ---------------------------------------------------------------------------------

  /**
   * Sends a reconnecting socket what it missed after `after` (as its audience may see it), then
   * what arrived meanwhile, then `live`. A client too far behind is told to `resync` instead.
   * Each sequence number reaches a socket at most once: `delivered` only grows.
   */
  private async replay(socket: LiveSocket, after: number) {
    await this.replaySlot();
    try {
      // Queued behind other replays, the socket may have gone: reading the log for it would only
      // delay everyone queued behind (a plain user's replay reads the log from `after` onwards).
      if (!socket.connected) return;
      const { user } = socket.data;
      const rows = await eventsSince(this.options.sql, after, MAX_REPLAY + 1, isStaff(user.role) ? null : user.id);
      // Checked after the read, so a removal committed in between shows here rather than as a gap.
      const resumable = await isResumable(this.options.sql, after);
      if (!socket.connected) return;
      if (rows.length > MAX_REPLAY || !resumable) {
        // Too far behind to replay, or audit retention removed some of what it missed: the client
        // refetches its lists and continues from here.
        const seq = await latestEventSeq(this.options.sql);
        socket.data.delivered = seq;
        socket.emit('resync', { seq });
      } else {
        for (const row of rows) {
          const event = toAuditEvent(row);
          const view = eventFor(socket.data.user, event);
          if (!view || event.seq <= after) continue;
          socket.emit('event', view);
        }
        socket.data.delivered = Math.max(after, Number(rows.at(-1)?.id ?? after));
      }
      this.goLive(socket, rows.length > MAX_REPLAY || !resumable ? 0 : rows.length);
    } catch (error) {
      this.options.log.error({ err: error }, 'replay failed');
      // The client could not be brought up to date: it reconnects and asks again.
      socket.disconnect(true);
    } finally {
      this.releaseReplaySlot();
    }
  }

  /** Sends what was held back during the replay (skipping what the replay sent), then says so. */
  private goLive(socket: LiveSocket, replayed: number) {
    const pending = socket.data.pending ?? [];
    socket.data.pending = null;
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

  // ---- Sessions, stats, presence ---------------------------------------------------------------

  /**
   * Ends the sockets whose session is over without an event: past its absolute lifetime, idle for
   * longer than allowed (an open connection is not use: only requests are), or gone. Runs every
   * SESSION_SWEEP_MS; revocations act at once through their events.
   */
  async sweepSessions(): Promise<void> {
    const sockets = [...this.io.of('/').sockets.values()];
    if (sockets.length === 0) return;
    const ids = [...new Set(sockets.map((s) => s.data.session.id))];
    const alive = await this.options.sql<{ id: string }[]>`
      SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ANY(${ids}::uuid[]) AND u.status = 'active' AND NOT ${sessionOver(this.options.sql, this.options.sessionPolicy)}`.catch(
      () => null,
    );
    if (!alive) return;
    const aliveIds = new Set(alive.map((r) => r.id));
    for (const id of ids) if (!aliveIds.has(id)) this.endSession(id, 'expired');
    for (const socket of sockets) if (socket.connected && isBacklogged(socket)) this.cutOff(socket);
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
