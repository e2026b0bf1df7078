// Over 300 lines for a reason: the hub wires the feed, presence, stats and session sweeps to Socket.IO in one place; each job lives in its own module beside it.
import type { Server as HttpServer } from 'node:http';
import type { Sql } from 'postgres';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import { Server } from 'socket.io';
import { eventUserId, liveHandshakeSchema, type AuditEvent, type Role, type SessionEndReason } from '@roster/shared';
import { sessionOver, validateSessionToken, type SessionCookie, type SessionPolicy } from '../auth/sessions.ts';
import { twoFactorOverdueFor, type TwoFactorPolicy } from '../auth/two-factor-policy.ts';
import type { DatabaseWatch } from '../database-watch.ts';
import type { Logger } from '../logger.ts';
import { isStaff } from './audience.ts';
import { ConnectionRegistry } from './connections.ts';
import { EventFeed } from './feed.ts';
import { PresenceTracker } from './presence.ts';
import { cutOff, isBacklogged, limitMessages } from './socket-limits.ts';
import { roleRoom, sessionRoom, userRoom, type LiveServer, type LiveSocket } from './sockets.ts';
import { StatsBroadcaster } from './stats.ts';

// How often open sockets are checked against their sessions: expiry and idleness have no event.
const SESSION_SWEEP_MS = 15_000;
// How often sockets are checked for a backlog a reading client would never leave.
const BACKLOG_CHECK_MS = 1000;
// Connections one session may hold on one node (browser tabs); more are refused.
const MAX_SOCKETS_PER_SESSION = 20;
// Reads of the session a handshake makes while changes to it keep being fanned out meanwhile,
// before it gives up ('unavailable': the client retries).
const MAX_HANDSHAKE_READS = 5;
// Changes to users and sessions remembered for those handshakes: far more than one read can span.
const RECENT_CHANGES = 2000;

export interface LiveHubOptions {
  sql: Sql;
  /** Handshakes are refused with `unavailable` at once while the database is down. */
  database: DatabaseWatch;
  /** For the Socket.IO PostgreSQL adapter (its own small pool), which carries presence and socket queries across nodes. */
  databaseUrl: string;
  log: Logger;
  origins: string[];
  sessionPolicy: SessionPolicy;
  sessionCookie: SessionCookie;
  /** Staff past their grace period for two-factor sign-in are refused until they set it up. */
  twoFactorPolicy: TwoFactorPolicy;
}

/**
 * The live channel: authenticates handshakes and wires the feed (events by audience, replays),
 * presence and stats; ends the sockets of revoked, expired and idle sessions and of clients that
 * flood or do not read.
 */
export class LiveHub {
  readonly io: LiveServer;
  private readonly feed: EventFeed;
  private readonly presenceTracker: PresenceTracker;
  private readonly connections: ConnectionRegistry;
  private readonly stats: StatsBroadcaster;
  private readonly adapterPool: pg.Pool;
  private timers: NodeJS.Timeout[] = [];
  /** The latest changes to users and sessions fanned out (at most RECENT_CHANGES), see `changedSince`. */
  private readonly recentChanges: { seq: number; userId: string | null; sessionId: string | null; all: boolean }[] = [];
  /** Changes numbered below this one are no longer remembered. */
  private recentChangesFrom = 0;
  /** Connections with a handshake under way: one at a time each (`authenticate`). */
  private readonly handshaking = new WeakSet<object>();
  /**
   * Sockets whose handshake passed but which Socket.IO has not connected yet (it does so a tick
   * later): they count against their session's limit, or handshakes finishing together would all
   * pass it.
   */
  private readonly admitted = new Set<LiveSocket>();

  constructor(
    httpServer: HttpServer,
    private readonly options: LiveHubOptions,
  ) {
    const allowed = new Set(options.origins);
    this.adapterPool = new pg.Pool({ connectionString: options.databaseUrl, max: 2, application_name: 'roster-adapter' });
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
    this.presenceTracker = new PresenceTracker(this.io, options.log);
    // A push this node sent before it heard of a connection elsewhere carries the old online count:
    // it sends its staff another once it has.
    this.connections = new ConnectionRegistry(this.io, options.log, () => this.stats.schedule());
    this.stats = new StatsBroadcaster(this.io, options.sql, options.log, this.connections);
    this.feed = new EventFeed(this.io, options.sql, options.log, (event) => this.applySideEffects(event));
    this.io.use((socket, next) => void this.authenticate(socket, next));
    this.io.on('connection', (socket) => this.onConnection(socket));
  }

  async start(): Promise<void> {
    await this.feed.start();
    this.connections.start();
    this.timers = [
      setInterval(() => void this.sweepSessions(), SESSION_SWEEP_MS),
      setInterval(() => this.cutOffBacklogged(), BACKLOG_CHECK_MS),
    ];
    for (const timer of this.timers) timer.unref();
  }

  async close(): Promise<void> {
    // Tell this node's clients that this is a shutdown, not a sign-out, before closing their connections.
    this.io.local.emit('server.draining');
    for (const timer of this.timers) clearInterval(timer);
    this.presenceTracker.stop();
    this.stats.stop();
    await this.feed.stop();
    await this.io.close();
    this.connections.stop();
    // After a database restart the adapter can keep a dead client checked out, and pg's pool.end()
    // waits for every checked-out client: bound the wait, the process is closing these sockets anyway.
    await Promise.race([this.adapterPool.end(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }

  onlineUserCount(): number {
    return this.connections.onlineUserCount();
  }

  onlineSessionIds(): Set<string> {
    return this.connections.onlineSessionIds();
  }

  // ---- Handshake and connection ---------------------------------------------------------------

  private async authenticate(socket: LiveSocket, next: (error?: Error) => void) {
    // Socket.IO runs a handshake for every CONNECT packet until one succeeds, and the message limit
    // counts only events: a client writing many at once would run as many reads of the session and
    // could open a socket for each. The console sends one and waits for the answer.
    if (this.handshaking.has(socket.conn)) {
      cutOff(socket);
      // Answered all the same: Socket.IO holds a socket until its handshake answers, and drops it
      // then, as its connection is closed.
      return next(new Error('cut_off'));
    }
    this.handshaking.add(socket.conn);
    try {
      await this.checkHandshake(socket, next);
    } finally {
      this.handshaking.delete(socket.conn);
    }
  }

  private async checkHandshake(socket: LiveSocket, next: (error?: Error) => void) {
    const refuse = (code: string) => next(Object.assign(new Error(code), { data: { code } }));
    const handshake = liveHandshakeSchema.safeParse(socket.handshake.auth ?? {});
    if (!handshake.success) return refuse('invalid_resume_point');
    const token = this.options.sessionCookie.tokenIn(socket.request.headers.cookie);
    let validated: Awaited<ReturnType<typeof validateSessionToken>>;
    try {
      // Until `next()` the socket is not in the fan-out: a change to this user or session fanned out
      // while the session was read (a demotion, a password reset) would never reach it. Read again
      // until none went by.
      for (let attempt = 1; ; attempt++) {
        const fannedOut = this.feed.position;
        validated = token ? await this.options.database.guard(() => validateSessionToken(this.options.sql, token, this.options.sessionPolicy)) : null;
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
    if (twoFactorOverdueFor(this.options.twoFactorPolicy, validated.user, validated.twoFactorDueAt)) return refuse('two_factor_setup_required');
    if (this.connectionsOf(validated.session.id) >= MAX_SOCKETS_PER_SESSION) return refuse('too_many_connections');
    socket.data.user = validated.user;
    socket.data.session = validated.session;
    socket.data.presence = { viewing: null, editing: null };
    socket.data.resumeFrom = handshake.data.after;
    this.admitted.add(socket);
    next();
    // `next` queued Socket.IO's tick that connects the socket (it joins its rooms in onConnection),
    // or drops it if its client left during the read: whose close has then gone by already.
    process.nextTick(() => this.admitted.delete(socket));
  }

  /** A session's sockets on this node: in its room, or admitted and about to join it. */
  private connectionsOf(sessionId: string): number {
    const joined = this.io.of('/').adapter.rooms.get(sessionRoom(sessionId))?.size ?? 0;
    return joined + [...this.admitted].filter((socket) => socket.data.session.id === sessionId).length;
  }

  private onConnection(socket: LiveSocket) {
    const { user, session } = socket.data;
    // From here on the socket is in its rooms, so in the fan-out.
    void socket.join([userRoom(user.id), roleRoom(user.role), sessionRoom(session.id)]);
    this.feed.connected(socket);
    limitMessages(socket, () => this.options.log.warn({ user: user.id }, 'live connection flooded messages; disconnected'));
    socket.on('presence', (update) => this.presenceTracker.update(socket, update));
    this.connections.connected(user.id, session.id);
    if (isStaff(user.role)) this.sendConnections(socket);
    socket.on('disconnect', () => {
      this.feed.disconnected(socket);
      this.connections.disconnected(user.id, session.id);
      if (isStaff(socket.data.user.role)) this.presenceTracker.schedule();
      this.stats.schedule(true);
    });
    if (isStaff(user.role)) this.presenceTracker.schedule();
    this.stats.schedule(true);
  }

  // ---- What events do to connections ------------------------------------------------------------

  private applySideEffects(event: AuditEvent) {
    this.rememberChange(event);
    switch (event.action) {
      case 'session.revoked':
        if (event.target_id) this.endSession(event.target_id, event.data.reason);
        break;
      case 'session.revoked_all':
        this.endEverySession(event.data.kept_session_id);
        break;
      case 'session.rotated':
        // A new token: connections opened with the old one (perhaps a stolen one) must not stream on.
        if (event.target_id) this.reconnect(sessionRoom(event.target_id));
        break;
      case 'user.password_reset':
        // A password someone else set, with the sessions kept: until the user chooses their own, the live
        // channel refuses them, so their open connections must not stream on either.
        if (event.target_id && event.data.user.password_change_required && !event.data.revoke_sessions) this.reconnect(userRoom(event.target_id));
        break;
      case 'user.updated':
        if (event.target_id && event.data.changes.role) this.moveToRole(event.target_id, event.data.user.role);
        break;
    }
    if (event.action.startsWith('user.') || event.action.startsWith('session.')) this.stats.schedule();
  }

  /** Tells a session's sockets on this node why, then closes them (every node does the same for its own). */
  private endSession(sessionId: string, reason: SessionEndReason) {
    const room = sessionRoom(sessionId);
    this.io.local.to(room).emit('session.ended', { reason });
    this.io.local.in(room).disconnectSockets(true);
  }

  /**
   * Closes a room's sockets on this node without signing them out ('server.draining' tells the
   * console so): they reconnect, and the handshake decides (the new cookie works, an old token does
   * not, a temporary password leads to "choose your password").
   */
  private reconnect(room: string) {
    this.io.local.to(room).emit('server.draining');
    this.io.local.in(room).disconnectSockets(true);
  }

  /** Whether a change to `userId` or `sessionId` (or to every session) was fanned out after `seq`. */
  private changedSince(seq: number, userId: string, sessionId: string): boolean {
    if (this.feed.position === seq) return false;
    if (this.recentChangesFrom > seq + 1) return true; // no longer remembered: assume it was
    return this.recentChanges.some((c) => c.seq > seq && (c.all || c.userId === userId || c.sessionId === sessionId));
  }

  /** Remembers what an event changed about users and sessions, for handshakes reading meanwhile. */
  private rememberChange(event: AuditEvent) {
    if (!event.action.startsWith('user.') && !event.action.startsWith('session.')) return;
    const session = event.target_type === 'session';
    this.recentChanges.push({
      seq: event.seq,
      userId: session ? eventUserId(event) : event.target_id,
      sessionId: session ? event.target_id : null,
      all: event.action === 'session.revoked_all',
    });
    if (this.recentChanges.length > RECENT_CHANGES) this.recentChangesFrom = this.recentChanges.shift()!.seq + 1;
  }

  private endEverySession(keptSessionId: string | null) {
    const everyone = keptSessionId ? this.io.local.except(sessionRoom(keptSessionId)) : this.io.local;
    everyone.emit('session.ended', { reason: 'revoked' });
    everyone.disconnectSockets(true);
  }

  /** A role change applies to open connections at once: new rooms, new audience. */
  private moveToRole(userId: string, role: Role) {
    for (const socket of this.io.of('/').sockets.values()) {
      if (socket.data.user.id !== userId) continue;
      const wasStaff = isStaff(socket.data.user.role);
      void socket.leave(roleRoom(socket.data.user.role));
      socket.data.user = { ...socket.data.user, role };
      void socket.join(roleRoom(role));
      if (!wasStaff && isStaff(role)) this.sendConnections(socket);
    }
    this.presenceTracker.schedule();
  }

  /** A staff connection starts with the whole list of connected sessions; changes follow. */
  private sendConnections(socket: LiveSocket) {
    socket.emit('connections', { online: this.connections.all(), offline: [], snapshot: true });
  }

  /**
   * Ends the sockets whose session is over without an event: past its absolute lifetime, idle for
   * longer than allowed (an open connection is not use: only requests are), or gone. Runs every
   * SESSION_SWEEP_MS; revocations act at once through their events. Staff whose grace period for
   * two-factor sign-in ran out meanwhile are sent to reconnect, which the handshake then refuses.
   */
  async sweepSessions(): Promise<void> {
    const sockets = [...this.io.of('/').sockets.values()];
    if (sockets.length === 0) return;
    const ids = [...new Set(sockets.map((s) => s.data.session.id))];
    const { sql, sessionPolicy, twoFactorPolicy } = this.options;
    const alive = await sql<{ id: string; role: Role; two_factor_enabled: boolean; two_factor_due_at: Date | null }[]>`
      SELECT s.id, u.role, u.two_factor_enabled_at IS NOT NULL AS two_factor_enabled, u.two_factor_due_at
      FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ANY(${ids}::uuid[]) AND u.status = 'active' AND NOT ${sessionOver(sql, sessionPolicy)}`.catch(() => null);
    if (!alive) return;
    const aliveIds = new Set(alive.map((r) => r.id));
    for (const id of ids) if (!aliveIds.has(id)) this.endSession(id, 'expired');
    for (const row of alive) if (twoFactorOverdueFor(twoFactorPolicy, row, row.two_factor_due_at)) this.reconnect(sessionRoom(row.id));
  }

  /** A client that does not read what it is sent is disconnected, not buffered for without end. */
  private cutOffBacklogged() {
    for (const socket of this.io.of('/').sockets.values()) {
      if (!isBacklogged(socket)) continue;
      this.options.log.warn({ user: socket.data.user.id }, 'live connection is not reading; disconnected');
      cutOff(socket);
    }
  }
}
