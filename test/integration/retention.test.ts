import { afterAll, describe, expect, test } from 'vitest';
import { MAX_REPLAY } from '@roster/shared';
import { loadConfig } from '../../server/src/config.ts';
import { connect, type Sql } from '../../server/src/database.ts';
import { startHousekeeping } from '../../server/src/live/housekeeping.ts';
import { createLogger } from '../../server/src/logger.ts';
import { RETENTION_LOCK_KEY, applyRetention } from '../../server/src/services/retention.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { runCli } from '../helpers/processes.ts';

const policy = { auditDays: 400, sessions: { maxAgeMs: 30 * 24 * 3600_000, idleMs: 7 * 24 * 3600_000, maxPerUser: 10 }, throttleWindowMs: 60 * 60_000 };
const pools: Sql[] = [];
afterAll(async () => {
  for (const pool of pools) await pool.end({ timeout: 5 });
});

async function freshDatabase() {
  const database = await createTestDatabase();
  pools.push(database.sql);
  return database;
}

/** Audit rows dated `daysAgo`, as old activity would have left them. */
async function seedEvents(sql: Sql, count: number, daysAgo: number) {
  await sql`
    INSERT INTO events (actor_label, action, target_type, target_id, target_label, at)
    SELECT 'seed', 'user.updated', 'user', gen_random_uuid()::text, 'seed-' || n, now() - ${daysAgo} * interval '1 day'
    FROM generate_series(1, ${count}) n`;
}

async function eventIds(sql: Sql): Promise<number[]> {
  return (await sql<{ id: string }[]>`SELECT id FROM events ORDER BY id`).map((r) => Number(r.id));
}

describe('AUDIT_RETENTION_DAYS', () => {
  test('defaults to 400 days and refuses less than the 30 days the statistics page reads', () => {
    expect(loadConfig({}).AUDIT_RETENTION_DAYS).toBe(400);
    expect(loadConfig({ AUDIT_RETENTION_DAYS: '30' }).AUDIT_RETENTION_DAYS).toBe(30);
    for (const bad of ['29', '0', '-1', '1.5', 'forever']) {
      expect(() => loadConfig({ AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/AUDIT_RETENTION_DAYS/);
    }
  });
});

describe('audit retention', () => {
  test('removes events older than the retention and keeps those inside it', async () => {
    const { sql } = await freshDatabase();
    await seedEvents(sql, 300, 500);
    await seedEvents(sql, 1200, 399);
    const before = await eventIds(sql);

    expect(await applyRetention(sql, policy)).toEqual({ events: 300, sessions: 0, rateLimitHits: 0 });
    expect(await eventIds(sql)).toEqual(before.slice(300));
    const [old] = await sql`SELECT count(*)::int AS n FROM events WHERE at < now() - interval '400 days'`;
    expect(old!.n).toBe(0);
  });

  test('keeps the newest MAX_REPLAY events whatever their age: the window a reconnecting client resumes from', async () => {
    const { sql } = await freshDatabase();
    await seedEvents(sql, MAX_REPLAY + 200, 900);
    const before = await eventIds(sql);

    expect((await applyRetention(sql, policy))?.events).toBe(200);
    expect(await eventIds(sql)).toEqual(before.slice(-MAX_REPLAY));
    // Nothing more goes on a second run.
    expect((await applyRetention(sql, policy))?.events).toBe(0);
  });

  test('removes from the oldest end only: an event inside the retention keeps every later one', async () => {
    const { sql } = await freshDatabase();
    await seedEvents(sql, 100, 500);
    await seedEvents(sql, 1, 10); // e.g. written while the clock was wrong
    await seedEvents(sql, 100, 500);
    await seedEvents(sql, MAX_REPLAY, 1);
    const before = await eventIds(sql);

    expect((await applyRetention(sql, policy))?.events).toBe(100);
    expect(await eventIds(sql)).toEqual(before.slice(100));
  });

  test('works through a backlog of many batches', async () => {
    const { sql } = await freshDatabase();
    await seedEvents(sql, 12_000 + MAX_REPLAY, 450);
    expect((await applyRetention(sql, policy))?.events).toBe(12_000);
    expect((await eventIds(sql)).length).toBe(MAX_REPLAY);
  });

  test('removes sessions that are over and throttle counts older than their window', async () => {
    const { sql } = await freshDatabase();
    const [user] = await sql`
      INSERT INTO users (username, display_name, email, password_hash)
      VALUES ('kept', 'Kept', 'kept@example.com', 'x') RETURNING id`;
    await sql`
      INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at) VALUES
        ('expired', ${user!.id}, now() - interval '1 minute', now() - interval '1 day', now()),
        ('too-old', ${user!.id}, now() + interval '1 day', now() - interval '31 days', now()),
        ('idle', ${user!.id}, now() + interval '1 day', now() - interval '9 days', now() - interval '8 days'),
        ('valid', ${user!.id}, now() + interval '1 day', now(), now())`;
    await sql`
      INSERT INTO rate_limit_hits (scope, key, at) VALUES
        ('ip', '192.0.2.1', now() - interval '61 minutes'),
        ('login', 'someone', now() - interval '3 days'),
        ('ip', '192.0.2.2', now() - interval '14 minutes')`;

    expect(await applyRetention(sql, policy)).toEqual({ events: 0, sessions: 3, rateLimitHits: 2 });
    expect((await sql`SELECT token_hash FROM sessions`).map((r) => r.token_hash)).toEqual(['valid']);
    expect((await sql`SELECT key FROM rate_limit_hits`).map((r) => r.key)).toEqual(['192.0.2.2']);
  });

  test('does nothing while another node holds the job, and two nodes running it at once both finish', async () => {
    const { url, sql } = await freshDatabase();
    await seedEvents(sql, 6000 + MAX_REPLAY, 500);
    const other = connect(url, { max: 1 });
    pools.push(other);

    await other`SELECT pg_advisory_lock(${RETENTION_LOCK_KEY})`;
    expect(await applyRetention(sql, policy)).toBeNull();
    expect((await eventIds(sql)).length).toBe(6000 + MAX_REPLAY);
    await other`SELECT pg_advisory_unlock(${RETENTION_LOCK_KEY})`;

    const results = await Promise.all([applyRetention(sql, policy), applyRetention(other, policy)]);
    const removed = results.reduce((sum, result) => sum + (result?.events ?? 0), 0);
    expect(removed).toBe(6000);
    expect((await eventIds(sql)).length).toBe(MAX_REPLAY);
  });
});

describe('housekeeping', () => {
  test('every node runs the retention soon after start and then periodically, logs what it removed, and stops when told', async () => {
    const { sql } = await freshDatabase();
    await seedEvents(sql, 50 + MAX_REPLAY, 500);
    const entries: { level: number; msg: string; removed?: unknown }[] = [];
    const log = createLogger('debug', { write: (line: string) => void entries.push(JSON.parse(line)) });
    const runs = () => entries.filter((e) => e.msg.startsWith('audit retention'));

    const housekeeping = startHousekeeping({ sql, log, policy, firstRunMs: 10, everyMs: 20 });
    await expect.poll(() => runs().length, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    await housekeeping.stop();
    expect(runs()[0]).toMatchObject({ level: 30, removed: { events: 50, sessions: 0, rateLimitHits: 0 } });
    expect(runs().slice(1).every((e) => e.level === 20)).toBe(true); // nothing left: debug only

    const after = runs().length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(runs().length).toBe(after);
  });
});

describe('command line', () => {
  test('prune-audit runs the retention once with the configured days and prints what it removed', async () => {
    const { url, sql } = await freshDatabase();
    await seedEvents(sql, 25, 100);
    await seedEvents(sql, MAX_REPLAY, 1);
    const env = { DATABASE_URL: url };

    const kept = await runCli(['prune-audit'], env);
    expect(kept.code, kept.output).toBe(0);
    expect(kept.output).toMatch(/Removed 0 audit events older than 400 days, 0 expired sessions, 0 counted sign-in attempts past their window/);

    const removed = await runCli(['prune-audit'], { ...env, AUDIT_RETENTION_DAYS: '90' });
    expect(removed.code, removed.output).toBe(0);
    expect(removed.output).toMatch(/Removed 25 audit events older than 90 days/);
    expect((await eventIds(sql)).length).toBe(MAX_REPLAY);
  });

  test('prune-audit says so and exits 1 while a node is running the retention', async () => {
    const { url } = await freshDatabase();
    const node = connect(url, { max: 1 });
    pools.push(node);
    await node`SELECT pg_advisory_lock(${RETENTION_LOCK_KEY})`;
    const busy = await runCli(['prune-audit'], { DATABASE_URL: url });
    expect(busy.code).toBe(1);
    expect(busy.output).toMatch(/another Roster process is running the retention now/i);
  });
});
