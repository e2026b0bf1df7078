import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { beforeAll } from 'vitest';
import type { ClientToServerEvents, Connections, LiveEvent, Presence, ServerToClientEvents, User, UserStats } from '@roster/shared';
import { createUser, type NewUser } from '../../server/src/services/users/changes.ts';
import { cliActor } from '../../server/src/services/events.ts';
import { ApiClient } from './api-client.ts';
import type { TestServer } from './server.ts';

export { ApiClient, type ApiResponse, type RouteResponse } from './api-client.ts';

export type TestUser = User & { password: string };

let counter = 0;

/** Creates a user through the real service (as the CLI would) and returns it with its password. */
export async function createTestUser(
  server: TestServer,
  overrides: Partial<NewUser> = {},
): Promise<TestUser> {
  counter += 1;
  const username = overrides.username ?? `user${counter}-${Math.random().toString(36).slice(2, 8)}`;
  const input: NewUser = {
    username,
    display_name: `User ${counter}`,
    email: `${username}@example.com`,
    role: 'user',
    password: 'correct horse battery',
    ...overrides,
  };
  const user = await createUser(server.sql, cliActor, input);
  return { ...user, password: input.password };
}

export async function signedInClient(server: TestServer, overrides: Partial<NewUser> = {}) {
  const user = await createTestUser(server, overrides);
  const client = new ApiClient(server);
  await client.signIn(user.username, user.password);
  return { client, user };
}

/** A client signed in as its own user: `user` is who it is, with the password. */
export class SignedInClient extends ApiClient {
  #user: TestUser | undefined;

  get user(): TestUser {
    if (!this.#user) throw new Error('The user is created and signed in before the tests: read it inside hooks and tests');
    return this.#user;
  }

  async signInAsNew(overrides: Partial<NewUser> = {}): Promise<TestUser> {
    this.#user = await createTestUser(this.server, overrides);
    await this.signIn(this.#user.username, this.#user.password);
    return this.#user;
  }
}

/**
 * A client signed in as a new user (`{ role: 'admin' }`…) for the tests of the file or describe
 * block it is called in: the user is created and signed in before them, after the server starts.
 */
export function useSignedInClient(server: TestServer, overrides: Partial<NewUser> = {}): SignedInClient {
  const client = new SignedInClient(server);
  beforeAll(() => client.signInAsNew(overrides));
  return client;
}

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Opens a Socket.IO connection; resolves once connected, rejects with the handshake's refusal. */
export function connectSocket(
  server: TestServer,
  options: {
    cookie?: string;
    origin?: string | null;
    reconnection?: boolean;
    auth?: Record<string, unknown>;
    /** Attaches listeners before the connection opens, so no message sent on connect is missed. */
    listen?: (socket: ClientSocket) => void;
  } = {},
): Promise<ClientSocket> {
  const origin = options.origin === undefined ? server.origin : options.origin;
  const headers: Record<string, string> = {};
  if (origin !== null) headers.origin = origin;
  if (options.cookie) headers.cookie = options.cookie;
  const socket: ClientSocket = io(server.url, {
    path: '/socket.io',
    transports: ['websocket'],
    extraHeaders: headers,
    reconnection: options.reconnection ?? false,
    forceNew: true,
    auth: options.auth ?? {},
  });
  options.listen?.(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
  });
}

/**
 * A live-channel client as the console runs it: resumes from the last sequence it saw on every
 * connect, and records everything the server sends, in order.
 */
export class LiveClient {
  readonly events: LiveEvent[] = [];
  readonly stats: UserStats[] = [];
  readonly presence: Presence[] = [];
  readonly connections: Connections[] = [];
  ended: { reason: string } | null = null;
  /** The sequence the connection resumed from. */
  since = 0;
  /** The server's `live` message: replay done, streaming from `seq`. */
  ready: { seq: number; replayed: number } | null = null;
  resyncs: number[] = [];
  disconnectReason: string | null = null;
  private waiters = new Set<() => void>();

  private constructor(readonly socket: ClientSocket) {
    socket.on('event', (event) => this.push(this.events, event));
    socket.on('live', (payload) => {
      this.ready = payload;
      this.notify();
    });
    socket.on('resync', ({ seq }) => this.push(this.resyncs, seq));
    socket.on('stats', (stats) => this.push(this.stats, stats));
    socket.on('presence', (presence) => this.push(this.presence, presence));
    socket.on('connections', (connections) => this.push(this.connections, connections));
    socket.on('session.ended', (payload) => {
      this.ended = payload;
      this.notify();
    });
    socket.on('disconnect', (reason) => {
      this.disconnectReason = reason;
      this.notify();
    });
  }

  /**
   * Connects, resuming from `after` in the handshake (default: the newest event now, i.e. only
   * what comes next; `null`: no resume point, as a first connection), and waits for `live`.
   */
  static async connect(server: TestServer, cookie: string | undefined, after?: number | null): Promise<LiveClient> {
    const since = after === undefined ? await latestSeq(server) : after;
    let client: LiveClient | undefined;
    await connectSocket(server, { cookie, auth: since === null ? {} : { after: since }, listen: (socket) => (client = new LiveClient(socket)) });
    client!.since = since ?? 0;
    await client!.until(() => client!.ready ?? undefined, 'the live message');
    return client!;
  }

  /** The highest sequence seen: the last event's, or where the connection resumed from. */
  get lastSeq(): number {
    return Math.max(this.since, this.events.at(-1)?.seq ?? 0);
  }

  /** Resolves once `check` returns a value other than undefined/false, re-checked on every message. */
  until<T>(check: () => T | undefined | false, what = 'condition', timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value !== undefined && value !== false) {
          clearTimeout(timer);
          this.waiters.delete(attempt);
          resolve(value as T);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(attempt);
        reject(new Error(`timed out waiting for ${what}; got events ${JSON.stringify(this.events.map((e) => e.action))}`));
      }, timeoutMs);
      this.waiters.add(attempt);
      attempt();
    });
  }

  event(predicate: (event: LiveEvent) => boolean, what = 'event'): Promise<LiveEvent> {
    return this.until(() => this.events.find(predicate), what);
  }

  disconnected(): Promise<string> {
    return this.until(() => this.disconnectReason ?? undefined, 'disconnect');
  }

  close() {
    this.socket.close();
  }

  private push<T>(list: T[], item: T) {
    list.push(item);
    this.notify();
  }

  private notify() {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** The newest event sequence in the server's database. */
export async function latestSeq(server: TestServer): Promise<number> {
  const [row] = await server.sql<{ seq: string }[]>`SELECT coalesce(max(id), 0) AS seq FROM events`;
  return Number(row!.seq);
}

/**
 * A bare TCP connection that has asked to become the Socket.IO websocket (with the console's
 * Origin, and the cookie if given), for tests that write and read every frame themselves.
 */
export function websocketUpgrade(server: TestServer, cookie?: string): net.Socket {
  const { hostname, port } = new URL(server.url);
  const socket = net.connect(Number(port), hostname);
  const headers = [
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1',
    `Host: ${hostname}:${port}`,
    `Origin: ${server.origin}`,
    ...(cookie === undefined ? [] : [`Cookie: ${cookie}`]),
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
  ];
  socket.write(`${headers.join('\r\n')}\r\n\r\n`);
  return socket;
}

