import { createServer, Socket, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Sql } from '../../server/src/database.ts';
import { createTestDatabase } from '../helpers/database.ts';

/**
 * postgres.js reads the array types on each new connection and drops that query's promise, so a
 * connection cut at that moment rejected where no code could catch it (porsager/postgres#1192,
 * #1223) and Node ends the process: a database restart during an outage took Roster down with it.
 */
describe('a connection cut while it starts up', () => {
  let database: { url: string; sql: Sql };
  let proxy: Server;
  let cutTypeQueries = false;
  let typeQueriesSeen = 0;
  const open = new Set<Socket>();

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url);
    // Passes bytes through, and closes the connection that asks for the array types when told to.
    proxy = createServer((client) => {
      const upstream = new Socket().connect(Number(target.port), target.hostname);
      open.add(client);
      client.on('close', () => open.delete(client));
      client.on('data', (chunk: Buffer) => {
        if (chunk.includes('typarray')) {
          typeQueriesSeen++;
          if (cutTypeQueries) return void (client.destroy(), upstream.destroy());
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => client.write(chunk));
      client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
      upstream.on('error', () => client.destroy()).on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    proxy?.close();
    await database?.sql.end();
  });

  it('rejects nothing unhandled, and arrays still parse on every later connection (30 new connections)', async () => {
    const proxied = new URL(database.url);
    proxied.port = String((proxy.address() as { port: number }).port);
    const sql = connect(proxied.toString(), { max: 1 });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      expect((await sql`SELECT '{a,b}'::text[] AS list`)[0]!.list).toEqual(['a', 'b']);
      cutTypeQueries = true;
      for (let round = 0; round < 30; round++) {
        // The network drops the idle connection, as in an outage: the next query opens a new one.
        for (const socket of open) socket.destroy();
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect((await sql`SELECT ${['x', 'y']}::text[] AS list`)[0]!.list).toEqual(['x', 'y']);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).toEqual([]);
      expect(typeQueriesSeen).toBe(1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await sql.end({ timeout: 1 });
    }
  });
});
