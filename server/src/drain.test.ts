import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { ConnectionDrain } from './drain.ts';
import { createLogger } from './logger.ts';

// HTTP/1.1 lets a client send its next request before the answer to the previous one (pipelining):
// Node then runs both handlers at once and writes the answers in order. The first answer finishing
// must not make the drain take the connection for idle while the second is still on its way.

const CONNECTIONS = 20;

test(`a pipelined request still running when the drain starts gets its answer (${CONNECTIONS} connections)`, async () => {
  const server = createServer((req, res) => {
    const delay = req.url === '/slow' ? 300 : 0;
    setTimeout(() => res.end(req.url), delay);
  });
  const drain = new ConnectionDrain(server, createLogger('silent'), '/socket.io/');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const answers = Array.from({ length: CONNECTIONS }, () => {
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /fast HTTP/1.1\r\nHost: roster\r\n\r\nGET /slow HTTP/1.1\r\nHost: roster\r\n\r\n');
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    return new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  });
  // Both answers to /fast are written by now, both /slow are still waiting.
  await sleep(100);
  await drain.drain(5_000);

  for (const received of await Promise.all(answers)) {
    expect(received).toContain('\r\n\r\n/fast');
    expect(received).toContain('\r\n\r\n/slow');
    expect(received).toMatch(/Connection: close\r\n[^]*\/slow$/);
  }
});
