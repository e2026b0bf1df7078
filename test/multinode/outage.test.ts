import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runMigrations } from '../../db/migrate.ts';
import { connect, startEmbeddedPostgres, type EmbeddedDatabase, type Sql } from '../../server/src/database.ts';
import { createLogger } from '../../server/src/logger.ts';
import { ApiClient, LiveClient, createTestUser, signedInClient } from '../helpers/clients.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// PostgreSQL stopped for 10 s and restarted while clients are connected and admins keep working.
// This file runs its own PostgreSQL, so stopping it disturbs no other test file.

let dataDir: string;
let postgres: EmbeddedDatabase;
let port: number;
let server: TestServer;
let sql: Sql;
const log = createLogger('silent');

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'roster-outage-'));
  postgres = await startEmbeddedPostgres(dataDir, log);
  port = Number(new URL(postgres.url).port);
  sql = connect(postgres.url, { max: 1 });
  await runMigrations(sql);
  await sql.end();
  server = await startTestServer({ databaseUrl: postgres.url });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await postgres?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a database outage', () => {
  test('writes fail fast with 503, /readyz says not ready, and afterwards everything resumes with no event lost', { timeout: 90_000 }, async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const watcher = await LiveClient.connect(server, admin.cookie);
    const before = await admin.post('/api/v1/users', { username: 'before-outage', display_name: 'B', email: 'before@example.com', generate_password: true });
    expect(before.status).toBe(201);
    await watcher.event((e) => e.target_label === 'before-outage', 'event before the outage');

    await postgres.stop();
    const outageStarted = Date.now();
    for (let i = 0; i < 3; i++) {
      const during = await admin.post('/api/v1/users', { username: `during-${i}`, display_name: 'D', email: `during-${i}@example.com`, generate_password: true });
      expect(during.status).toBe(503);
      expect(during.body.error.code).toBe('unavailable');
      const ready = await new ApiClient(server).get('/readyz');
      expect(ready.status).toBe(503);
      expect((await new ApiClient(server).get('/healthz')).status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - outageStarted))));
    postgres = await startEmbeddedPostgres(dataDir, log, { port });

    // The server reconnects by itself: readiness returns, writes work, and the feed carries on.
    await expect.poll(async () => (await new ApiClient(server).get('/readyz')).status, { timeout: 20_000, interval: 250 }).toBe(200);
    const after = await admin.post('/api/v1/users', { username: 'after-outage', display_name: 'A', email: 'after@example.com', generate_password: true });
    expect(after.status).toBe(201);
    await watcher.event((e) => e.target_label === 'after-outage', 'event after the outage');
    const rows = await server.sql`SELECT id FROM events WHERE id > ${watcher.since} ORDER BY id`;
    expect(watcher.events.map((e) => e.seq)).toEqual(rows.map((r) => Number(r.id)));
    expect(await server.sql`SELECT 1 FROM users WHERE username LIKE 'during-%'`).toHaveLength(0);
    watcher.close();
  });
});

describe('a client offline for a minute', () => {
  test('comes back and catches up (network cut, not a logout)', { timeout: 120_000 }, async () => {
    const { client: admin } = await signedInClient(server, { role: 'admin' });
    const watcher = await LiveClient.connect(server, admin.cookie);
    const seen = watcher.lastSeq;
    // Cut the client's connection without a close handshake, as a dropped network would.
    (watcher.socket.io.engine.transport as unknown as { ws: { terminate(): void } }).ws.terminate();
    watcher.socket.io.reconnection(false);
    await watcher.disconnected();
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push(await createTestUser(server));
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    watcher.close();
    const back = await LiveClient.connect(server, admin.cookie, seen);
    const rows = await server.sql`SELECT id FROM events WHERE id > ${seen} ORDER BY id`;
    await back.until(() => back.lastSeq >= Number(rows.at(-1)!.id), 'the replay after a minute away');
    expect(back.events.map((e) => e.seq)).toEqual(rows.map((r) => Number(r.id)));
    expect(back.events.filter((e) => e.action === 'user.created').map((e) => e.target_id)).toEqual(missed.map((u) => u.id));
    back.close();
  });
});
