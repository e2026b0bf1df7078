import type { Server as HttpServer } from 'node:http';
import { parse as parseCookies } from 'hono/utils/cookie';
import { Server, type Socket } from 'socket.io';
import { SESSION_COOKIE, validateSessionToken, type ValidatedSession } from '../auth/sessions.ts';
import type { Deps } from '../http/context.ts';

export interface SocketData {
  auth: ValidatedSession;
}

export type LiveSocket = Socket<Record<string, never>, Record<string, never>, Record<string, never>, SocketData>;

/**
 * The live channel. A handshake must come from an allowed origin (cross-site websocket hijacking is
 * refused before any upgrade) and carry a valid session cookie, checked against the database.
 */
export function createLiveServer(httpServer: HttpServer, deps: Deps) {
  const allowed = new Set(deps.origins);
  const idleMs = deps.config.SESSION_IDLE_MINUTES * 60 * 1000;
  const io = new Server<Record<string, never>, Record<string, never>, Record<string, never>, SocketData>(httpServer, {
    path: '/socket.io',
    serveClient: false,
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      callback(origin && allowed.has(origin) ? null : 'Origin not allowed', Boolean(origin && allowed.has(origin)));
    },
  });

  io.use(async (socket, next) => {
    const token = parseCookies(socket.request.headers.cookie ?? '', SESSION_COOKIE)[SESSION_COOKIE];
    const auth = token ? await validateSessionToken(deps.sql, token, idleMs).catch(() => null) : null;
    if (!auth) return next(Object.assign(new Error('unauthenticated'), { data: { code: 'unauthenticated' } }));
    socket.data.auth = auth;
    next();
  });

  io.on('connection', (socket: LiveSocket) => {
    const { user, session } = socket.data.auth;
    // Rooms by audience: events go to a role, a user, or one session (for forced logout).
    void socket.join([`user:${user.id}`, `role:${user.role}`, `session:${session.id}`]);
  });

  return io;
}
