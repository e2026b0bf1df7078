// A separate process holding many Socket.IO clients, so the server under test does not share a CPU
// budget with them. Commands and results travel over the IPC channel.
import { io, type Socket } from 'socket.io-client';

interface Connect {
  type: 'connect';
  url: string;
  origin: string;
  cookies: (string | null)[];
  /** The Socket.IO event whose arrivals are timed. */
  listen: string;
}

const sockets: Socket[] = [];
const arrivals: { client: number; key: string; at: number }[] = [];
const disconnects: { client: number; at: number }[] = [];
const now = () => performance.timeOrigin + performance.now();

/** At most this many handshakes at once: thousands at once time out on a busy 2-core machine. */
const CONNECT_BATCH = 250;

async function connect(command: Connect) {
  for (let first = 0; first < command.cookies.length; first += CONNECT_BATCH) {
    await connectBatch(command, first, command.cookies.slice(first, first + CONNECT_BATCH));
  }
}

async function connectBatch(command: Connect, offset: number, cookies: (string | null)[]) {
  await Promise.all(
    cookies.map(
      (cookie, index) =>
        new Promise<void>((resolve, reject) => {
          const client = offset + index;
          const socket = io(command.url, {
            transports: ['websocket'],
            timeout: 60_000,
            forceNew: true,
            reconnection: false,
            extraHeaders: { origin: command.origin, ...(cookie ? { cookie } : {}) },
          });
          socket.on(command.listen, (payload: { seq?: number; key?: string; target_id?: string; version?: number }) => {
            arrivals.push({ client, key: payload.key ?? `${payload.target_id}:${payload.version}`, at: now() });
          });
          socket.on('disconnect', () => disconnects.push({ client, at: now() }));
          // A Roster session is live once the server says so; a bare Socket.IO server has no such message.
          if (cookie) socket.once('live', () => resolve());
          else socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
          sockets.push(socket);
        }),
    ),
  );
}

process.on('message', async (message: { type: string } & Partial<Connect>) => {
  if (message.type === 'connect') {
    await connect(message as Connect);
    process.send!({ type: 'connected', count: sockets.length });
  } else if (message.type === 'collect') {
    process.send!({ type: 'results', arrivals: arrivals.splice(0), disconnects: disconnects.splice(0) });
  } else if (message.type === 'close') {
    for (const socket of sockets.splice(0)) socket.close();
    process.send!({ type: 'closed' });
  }
});
process.send!({ type: 'ready' });
