import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { ConnectionDrain } from './drain.ts';
import { createLogger } from './logger.ts';

// HTTP/1.1 lets a client send its next request before the answer to the previous one (pipelining):
// Node then runs both handlers at once and writes the answers in order. The drain must answer both
// and then close the connection itself, whichever finishes first.

const CONNECTIONS = 20;

test.each([
  ['/fast', '/slow'],
  ['/slow', '/fast'],
])(`pipelined %s then %s, the drain starting in between: both answered, then the connection closed (${CONNECTIONS} connections)`, async (first, second) => {
  const server = createServer((req, res) => {
    const delay = req.url === '/slow' ? 300 : 0;
    setTimeout(() => res.end(req.url), delay);
  });
  // Longer than the drain may take: only the drain can close these connections in time.
  server.keepAliveTimeout = 60_000;
  const warnings: string[] = [];
  const log = createLogger('warn', { write: (line: string) => warnings.push(line) });
  const drain = new ConnectionDrain(server, log, '/socket.io/');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const answers = Array.from({ length: CONNECTIONS }, () => {
    const socket = connect(port, '127.0.0.1');
    socket.write(`GET ${first} HTTP/1.1\r\nHost: roster\r\n\r\nGET ${second} HTTP/1.1\r\nHost: roster\r\n\r\n`);
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    return new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  });
  // Every /fast handler has answered by now, every /slow one is still waiting.
  await sleep(100);
  await drain.drain(3_000);

  expect(warnings).toEqual([]);
  for (const received of await Promise.all(answers)) {
    expect(received).toContain(`\r\n\r\n${first}HTTP/1.1 200`);
    expect(received.endsWith(`\r\n\r\n${second}`)).toBe(true);
  }
});
