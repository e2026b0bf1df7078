import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  Connections,
  ErrorBody,
  LiveEvent,
  Presence,
  ServerToClientEvents,
  User,
  UserStats,
} from '@roster/shared';
import { createUser, type NewUser } from '../../server/src/services/users/changes.ts';
import { cliActor } from '../../server/src/services/events.ts';
import type { TestServer } from './server.ts';

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** An HTTP client with its own cookie jar, sending the server's Origin unless told otherwise. */
export class ApiClient {
  /** The session cookie (`roster_session=…`), also what sockets are opened with. */
  cookie: string | undefined;
  /** The device cookie a sign-in sets (`roster_device=…`): this browser signed in before. */
  deviceCookie: string | undefined;
  /** A sign-in awaiting its second factor (`roster_pending_login=…`). */
  pendingCookie: string | undefined;

  constructor(
    readonly server: TestServer,
    readonly defaults: { origin?: string | null; headers?: Record<string, string> } = {},
  ) {}

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    options: { headers?: Record<string, string>; rawBody?: string } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...this.defaults.headers, ...options.headers };
    const origin = this.defaults.origin === undefined ? this.server.origin : this.defaults.origin;
    if (origin !== null) headers.origin ??= origin;
    const cookies = [this.cookie, this.deviceCookie, this.pendingCookie].filter(Boolean);
    if (cookies.length > 0) headers.cookie ??= cookies.join('; ');
    if (body !== undefined || options.rawBody !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(this.server.url + path, {
      method,
      headers,
      body: options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    this.keepCookie(response.headers.getSetCookie());
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  get = <T = any>(path: string) => this.request<T>('GET', path);
  post = <T = any>(path: string, body?: unknown) => this.request<T>('POST', path, body);
  patch = <T = any>(path: string, body?: unknown) => this.request<T>('PATCH', path, body);
  put = <T = any>(path: string, body?: unknown) => this.request<T>('PUT', path, body);
  delete = <T = any>(path: string) => this.request<T>('DELETE', path);

  async signIn(login: string, password: string): Promise<User> {
    const response = await this.post<{ user: User } & ErrorBody>('/api/v1/auth/login', { login, password });
    if (response.status !== 200 || !response.body.user) throw new Error(`sign-in failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.user;
  }

  /** Signs in with two factors: the password, then `second` (`{code}` or `{recovery_code}`). */
  async signInWithSecondFactor(login: string, password: string, second: { code: string } | { recovery_code: string }): Promise<User> {
    const first = await this.post('/api/v1/auth/login', { login, password });
    if (first.status !== 200 || first.body.second_factor_required !== true) throw new Error(`sign-in's first step: ${first.status} ${JSON.stringify(first.body)}`);
    const response = await this.post<{ user: User } & ErrorBody>('/api/v1/auth/second-factor', second);
    if (response.status !== 200) throw new Error(`sign-in's second step failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.user;
  }

  /** The raw session token from the cookie jar. */
  get sessionToken(): string | undefined {
    return this.cookie?.match(/roster_session=([^;]+)/)?.[1];
  }

  private keepCookie(setCookies: string[]) {
    for (const header of setCookies) {
      const [pair] = header.split(';');
      const [name, value] = pair!.split('=');
      const expired = /max-age=0/i.test(header) || value === '';
      if (name === 'roster_session') this.cookie = expired ? undefined : `roster_session=${value}`;
      if (name === 'roster_device') this.deviceCookie = expired ? undefined : `roster_device=${value}`;
      if (name === 'roster_pending_login') this.pendingCookie = expired ? undefined : `roster_pending_login=${value}`;
    }
  }
}

let counter = 0;

/** Creates a user through the real service (as the CLI would) and returns it with its password. */
export async function createTestUser(
  server: TestServer,
  overrides: Partial<NewUser> = {},
): Promise<User & { password: string }> {
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
