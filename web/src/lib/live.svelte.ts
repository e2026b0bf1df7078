import { goto } from '$app/navigation';
import { signedInHint } from './signed-in';
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  Connections,
  LiveEvent,
  Presence,
  PresenceUpdate,
  ServerToClientEvents,
  SessionEndReason,
  UserStats,
} from '@roster/shared';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

type EventHandler = (event: LiveEvent) => void;

const emptyPresence: Presence = { online: [], viewing: {}, editing: {} };

/**
 * The one live connection of the console. Pages subscribe to events; the connection resumes from
 * the last sequence it saw after every drop, so lists stay current without reloads.
 */
class LiveChannel {
  status = $state<ConnectionStatus>('connecting');
  stats = $state<UserStats | null>(null);
  presence = $state<Presence>(emptyPresence);
  /** Staff only: user id → the ids of that user's sessions with a live connection now. */
  connected = $state<Record<string, string[]>>({});
  /** Highest sequence applied. */
  seq = 0;
  /**
   * Before the channel was ever live: the oldest event a list loaded meanwhile is current to. The
   * first connection resumes from there, so what happened after those lists were read is replayed
   * (the first connection can fail and the pages load anyway: too many tabs, the database away).
   */
  private loadedFrom: number | null = null;
  private socket: Socket<ServerToClientEvents, ClientToServerEvents> | null = null;
  private handlers = new Set<EventHandler>();
  private resyncHandlers = new Set<() => void>();
  private ready: Promise<void> | null = null;
  private presenceState: PresenceUpdate = {};
  /** The server announced a shutdown: its disconnect is not a sign-out. */
  private draining = false;

  /** Connects once; resolves when the server says the connection is live, i.e. when data loaded from now on is covered. */
  connect(): Promise<void> {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve) => {
      // WebSocket only: browsers always send Origin on it (the server requires one), and it needs no
      // sticky sessions behind a proxy with several nodes. The resume point travels in the
      // handshake, read anew on every reconnect: the server sends what was missed, then `live`.
      const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
        path: '/socket.io',
        transports: ['websocket'],
        forceNew: true,
        auth: (send) => {
          const after = this.seq > 0 ? this.seq : this.loadedFrom;
          send(after ? { after } : {});
        },
      });
      this.socket = socket;
      let first = true;
      socket.on('live', ({ seq }) => {
        this.seq = Math.max(this.seq, seq);
        this.status = 'live';
        if (first) resolve();
        first = false;
        if (this.presenceState.viewing || this.presenceState.editing) socket.emit('presence', this.presenceState);
      });
      socket.on('event', (event) => {
        if (event.seq <= this.seq) return;
        this.seq = event.seq;
        for (const handler of this.handlers) handler(event);
      });
      socket.on('stats', (stats) => this.offerStats(stats));
      socket.on('presence', (presence) => (this.presence = presence));
      socket.on('connections', (changes) => this.applyConnections(changes));
      socket.on('resync', ({ seq }) => {
        this.seq = seq;
        for (const handler of this.resyncHandlers) handler();
      });
      socket.on('session.ended', ({ reason }) => void this.signedOut(reason));
      socket.on('server.draining', () => (this.draining = true));
      socket.on('disconnect', (reason) => {
        if (reason === 'io server disconnect' && !this.draining) return void this.signedOut('revoked');
        if (reason === 'io client disconnect') return;
        this.status = 'reconnecting';
        // A server-initiated close is not retried by Socket.IO itself; behind a proxy the next try reaches another node.
        if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 500 + Math.random() * 1000);
        this.draining = false;
      });
      socket.on('connect_error', (error) => {
        if (error.message === 'unauthenticated') return void this.signedOut('revoked');
        if (error.message === 'password_change_required') return void goto('/choose-password');
        if (error.message === 'two_factor_setup_required') {
          // Staff past their grace period for two-factor sign-in: the setup page, then a fresh connection.
          if (first) resolve();
          this.disconnect();
          return void goto('/set-up-two-factor');
        }
        this.status = navigator.onLine ? 'reconnecting' : 'offline';
        // Refused by the server's check (database unavailable, too many tabs): Socket.IO does not retry those by itself.
        if (error.message === 'unavailable' || error.message === 'too_many_connections') setTimeout(() => socket.connect(), 2000);
        if (first) resolve(); // let the page load its data; events catch up once connected
      });
      socket.io.on('reconnect_attempt', () => (this.status = navigator.onLine ? 'reconnecting' : 'offline'));
    });
    return this.ready;
  }

  /**
   * Stats pushed by a node, or read by a page (`read`): kept when at least as new as those shown.
   * Pushes from two nodes can cross on their way; at the same `seq` only who is online differs, and
   * the push that came later is the newer. A page's read at the same `seq` is not: it may have been
   * read before a connection that a push already counted (and a later connection brings its push).
   */
  offerStats(stats: UserStats, { read = false } = {}) {
    if (!this.stats || stats.seq > this.stats.seq || (stats.seq === this.stats.seq && !read)) this.stats = stats;
  }

  /** A list was read at event `seq` (its page's `seq`). */
  loadedAt(seq: number) {
    if (this.seq === 0) this.loadedFrom = Math.min(this.loadedFrom ?? seq, seq);
  }

  /** Runs `handler` for every new event until the returned function is called. */
  subscribe(handler: EventHandler, onResync?: () => void): () => void {
    this.handlers.add(handler);
    if (onResync) this.resyncHandlers.add(onResync);
    return () => {
      this.handlers.delete(handler);
      if (onResync) this.resyncHandlers.delete(onResync);
    };
  }

  private applyConnections({ online, offline, snapshot }: Connections) {
    const next: Record<string, string[]> = snapshot ? {} : { ...this.connected };
    for (const [userId, sessionId] of offline) next[userId] = (next[userId] ?? []).filter((id) => id !== sessionId);
    for (const [userId, sessionId] of online) if (!next[userId]?.includes(sessionId)) next[userId] = [...(next[userId] ?? []), sessionId];
    this.connected = next;
  }

  /** Tells the other admins what this one is looking at or editing. */
  setPresence(update: PresenceUpdate) {
    this.presenceState = { ...this.presenceState, ...update };
    this.socket?.emit('presence', update);
  }

  disconnect() {
    this.socket?.close();
    this.socket = null;
    this.ready = null;
    this.status = 'connecting';
  }

  private async signedOut(reason: SessionEndReason | 'revoked') {
    this.disconnect();
    signedInHint.clear();
    const message = reason === 'logout' ? 'signed_out' : reason;
    await goto(`/login?reason=${message}`, { replaceState: true });
  }
}

export const live = new LiveChannel();
