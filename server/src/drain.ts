import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { setImmediate as nextPoll, setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.ts';

// Connections the kernel has completed but Node has not accepted yet are reset when the listener
// closes, although their clients already sent a request: accept until this long passes with none.
const ACCEPT_QUIET_MS = 50;
const ACCEPT_AT_MOST_MS = 1000;
// A connection accepted during the drain that has sent no request by then is closed.
const FIRST_REQUEST_GRACE_MS = 1000;

/** A connection is active while it has a response on its way, and then holds that response. */
type State = 'new' | 'idle' | ServerResponse;

/**
 * Lets an HTTP server stop without cutting a request it was sent. Node's own `server.close()`
 * resets connections whose request it has not read yet, and the listener's close resets those
 * still in the kernel's accept queue: both are requests the client believes were delivered.
 */
export class ConnectionDrain {
  // An entry per connection whose state is replaced in place by each request on it: a Map or Set
  // that gains and loses an entry per request keeps requests alive through young-generation
  // collections (see DatabaseWatch's `waiting`). A client that opens a connection per request still
  // churns it, at the cost of a connection each anyway.
  private readonly connections = new Map<Socket, State>();
  private accepted = 0;
  private draining = false;
  private onChange: (() => void) | null = null;

  /** `livePath`: the live channel's requests (long polls) are left to its own close. */
  constructor(
    private readonly server: HttpServer,
    private readonly log: Logger,
    private readonly livePath: string,
  ) {
    server.on('connection', (socket: Socket) => {
      this.accepted += 1;
      this.connections.set(socket, 'new');
      socket.once('close', () => this.forget(socket));
    });
    // First of the request listeners, so it sees the live channel's requests too and sets its header
    // before a handler that answers at once has sent the head.
    server.prependListener('request', (req: IncomingMessage, res) => {
      if (req.url?.startsWith(this.livePath)) return this.forget(req.socket);
      this.connections.set(req.socket, res);
      if (this.draining) closeAfter(res);
      // Idle only once its last request is answered: a client may send the next before that
      // (pipelining), and Node answers them in order. While draining, the connection is closed then:
      // an answer whose head was already written, or queued behind an earlier answer, could not say
      // `Connection: close`, and the client would keep the connection open.
      res.once('finish', () => {
        if (this.connections.get(req.socket) !== res) return;
        if (this.draining) req.socket.end();
        else this.connections.set(req.socket, 'idle');
      });
    });
    server.on('upgrade', (req: IncomingMessage) => this.forget(req.socket));
  }

  /**
   * Accepts what the kernel already queued, stops listening (new connections are refused), closes
   * idle keep-alive connections, and waits for every request to be answered, at most `timeoutMs`.
   * Responses sent meanwhile carry `Connection: close`.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    for (const state of this.connections.values()) if (typeof state !== 'string') closeAfter(state);
    await this.acceptQueued();
    // net's close, not http's: that one would also reset connections whose request is still unread.
    NetServer.prototype.close.call(this.server);
    this.log.info({ connections: this.connections.size }, 'draining: stopped accepting connections');
    this.close('idle');
    const silent = setTimeout(() => this.close('new'), FIRST_REQUEST_GRACE_MS);
    const finished = await Promise.race([this.allClosed(), sleep(timeoutMs, false, { ref: false })]);
    clearTimeout(silent);
    if (!finished) {
      this.log.warn({ connections: this.connections.size }, 'requests still running after the drain timeout; closing them');
      this.server.closeAllConnections();
    }
  }

  private async acceptQueued() {
    const started = performance.now();
    let seen = -1;
    while (seen !== this.accepted && performance.now() - started < ACCEPT_AT_MOST_MS) {
      seen = this.accepted;
      await sleep(ACCEPT_QUIET_MS);
      // Timers run before the event loop polls for connections: let one poll pass before looking.
      await nextPoll();
    }
  }

  private close(state: State) {
    for (const [socket, current] of this.connections) if (current === state) socket.destroy();
  }

  private allClosed(): Promise<true> {
    return new Promise((resolve) => {
      this.onChange = () => this.connections.size === 0 && resolve(true);
      this.onChange();
    });
  }

  private forget(socket: Socket) {
    this.connections.delete(socket);
    this.onChange?.();
  }
}

/** Keep-alive clients must not send another request on a connection about to close. */
function closeAfter(res: ServerResponse) {
  if (!res.headersSent) res.setHeader('Connection', 'close');
}
