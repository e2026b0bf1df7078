import type { Socket } from 'socket.io';

// What one live connection may cost the server. The console sends a presence update when its
// view changes and reads whatever it is sent; a client that floods messages, or stops reading
// while events pile up for it, is cut off instead of slowing or growing the server.

/** Messages a socket may send in a burst, and how many it earns back per second. */
export const MESSAGE_BURST = 20;
export const MESSAGES_PER_SECOND = 5;
/** Messages beyond the limit that are dropped before the socket is disconnected. */
const DROPS_BEFORE_DISCONNECT = 50;
/** Packets waiting to be written to a socket, and bytes buffered below them, before it is cut off. */
const MAX_QUEUED_PACKETS = 500;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Drops a socket's messages beyond a token bucket, and disconnects a socket that keeps flooding. */
export function limitMessages(socket: Socket, onFlood: () => void): void {
  let tokens = MESSAGE_BURST;
  let refilledAt = performance.now();
  let dropped = 0;
  socket.use((_packet, next) => {
    const now = performance.now();
    tokens = Math.min(MESSAGE_BURST, tokens + ((now - refilledAt) / 1000) * MESSAGES_PER_SECOND);
    refilledAt = now;
    if (tokens >= 1) {
      tokens -= 1;
      return next();
    }
    dropped += 1;
    if (dropped === DROPS_BEFORE_DISCONNECT) {
      onFlood();
      socket.disconnect(true);
    }
  });
}

/** True when a socket has more waiting to be written than a reading client would ever leave. */
export function isBacklogged(socket: Socket): boolean {
  const conn = socket.conn as unknown as { writeBuffer: unknown[]; transport: { socket?: { bufferedAmount?: number } } };
  return conn.writeBuffer.length > MAX_QUEUED_PACKETS || (conn.transport.socket?.bufferedAmount ?? 0) > MAX_BUFFERED_BYTES;
}

/**
 * Closes a socket's whole connection at once, connected or still in its handshake: a graceful
 * websocket close waits for the client to read a close frame, which such a client never does.
 */
export function cutOff(socket: Socket): void {
  const transport = socket.conn.transport as unknown as { socket?: { terminate?: () => void } };
  socket.conn.close();
  transport.socket?.terminate?.();
}
