import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, test } from 'vitest';
import { loadMigrations } from '../../db/migrate.ts';
import { loadConfig } from '../../server/src/config.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { ApiClient } from '../helpers/clients.ts';
import { repoRoot, runCli, spawnRoster, type RosterProcess } from '../helpers/processes.ts';
import { serverAt } from '../helpers/nodes.ts';

const started: RosterProcess[] = [];
afterAll(async () => {
  for (const p of started) {
    p.child.kill('SIGTERM');
    await p.exited;
  }
});


describe('real processes', () => {
  test('two servers starting at once against one empty database both come up; migrations run once', async () => {
    const { url: databaseUrl, sql } = await createTestDatabase({ empty: true });
    const env = { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1' };
    const servers = [spawnRoster('server/src/main.ts', [], env), spawnRoster('server/src/main.ts', [], env)];
    started.push(...servers);
    const urls = await Promise.all(servers.map(async (s) => (await s.waitFor(/running at (http:\S+)/))[1]!));
    for (const url of urls) {
      const ready = await new ApiClient(serverAt(url, databaseUrl)).get('/readyz');
      expect(ready.status).toBe(200);
    }
    const recorded = await sql`SELECT version FROM schema_migrations ORDER BY version`;
    expect(recorded.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
    // Both printed a setup link, and each link is a valid one-time token.
    for (const server of servers) expect(server.output()).toMatch(/\/setup\?token=[\w-]{20,}/);
    await sql.end();
  });

  test('SIGTERM stops a server cleanly', async () => {
    const { url: databaseUrl, sql } = await createTestDatabase();
    await sql.end();
    const server = spawnRoster('server/src/main.ts', [], { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1' });
    await server.waitFor(/running at/);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});

describe('the database pool', () => {
  test('a server opens DATABASE_POOL_SIZE connections for its requests and no more, however many wait', async () => {
    const { url: databaseUrl, sql } = await createTestDatabase();
    const serverStart = (await sql<{ now: Date }[]>`SELECT clock_timestamp() AS now`)[0]!.now;
    const server = spawnRoster('server/src/main.ts', [], { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', DATABASE_POOL_SIZE: '2' });
    started.push(server);
    const client = new ApiClient(serverAt((await server.waitFor(/running at (http:\S+)/))[1]!, databaseUrl));
    // Each waits on the database: with the default pool they opened up to 10 connections.
    const answers = await Promise.all(Array.from({ length: 30 }, () => client.get('/readyz')));
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 30 }, () => 200));
    // Besides the pool, a connection of its own listens for notifications.
    const [pool] = await sql<{ connections: number }[]>`
      SELECT count(*)::int AS connections FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'roster' AND backend_start > ${serverStart} AND query NOT ILIKE 'listen %'`;
    expect(pool?.connections).toBe(2);
    await sql.end();
  });

  test('a pool size that is not a whole number from 1 to 1,000 is refused, naming the setting; unset or empty, it is 10', () => {
    for (const size of ['0', 'many', '2.5', '5000']) {
      expect(() => loadConfig({ DATABASE_POOL_SIZE: size })).toThrow(/Invalid configuration:\n\s+DATABASE_POOL_SIZE: /);
    }
    expect([loadConfig({}).DATABASE_POOL_SIZE, loadConfig({ DATABASE_POOL_SIZE: '' }).DATABASE_POOL_SIZE]).toEqual([10, 10]);
  });
});

describe('the production build', () => {
  test('the server and CLI bundles run on plain Node, serve the API and the console, and apply the migrations', async () => {
    execFileSync(process.execPath, ['scripts/build.mjs', 'server'], { cwd: repoRoot, stdio: 'ignore' });
    const { url: databaseUrl, sql } = await createTestDatabase({ empty: true });
    const env = { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1' };
    const created = await runCli(['create-admin', '--username', 'bundled', '--email', 'bundled@example.com', '--password', 'a long passphrase'], env, 'server/dist/cli.js');
    expect(created.code, created.output).toBe(0);
    const server = spawnRoster('server/dist/main.js', [], env);
    started.push(server);
    const target = serverAt((await server.waitFor(/running at (http:\S+)/))[1]!, databaseUrl);
    expect((await new ApiClient(target).get('/readyz')).status).toBe(200);
    const client = new ApiClient(target);
    await client.signIn('bundled', 'a long passphrase');
    expect((await client.get('/api/v1/auth/me')).body.user.username).toBe('bundled');
    const shell = await fetch(`${target.url}/users`);
    expect(await shell.text()).toMatch(/<!doctype html>/i);
    await sql.end();
  });
});

describe('command line', () => {
  test('create-admin creates an admin who can sign in; bad input exits 1 and creates nothing', async () => {
    const { url: databaseUrl, sql } = await createTestDatabase({ empty: true });
    const env = { DATABASE_URL: databaseUrl };

    const bad = await runCli(['create-admin', '--username', 'x', '--email', 'nope', '--password', 'short'], env);
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/username/);
    expect(bad.output).toMatch(/email/);
    const weak = await runCli(['create-admin', '--username', 'root', '--email', 'root@example.com', '--password', 'short'], env);
    expect(weak.code).toBe(1);
    expect(weak.output).toMatch(/password: Password must be at least 8 characters/);

    const ok = await runCli(['create-admin', '--username', 'Root.Admin', '--email', 'root@example.com', '--password', 'a long passphrase'], env);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/Created admin root\.admin/);

    const duplicate = await runCli(['create-admin', '--username', 'root.admin', '--email', 'other@example.com', '--password', 'a long passphrase'], env);
    expect(duplicate.code).toBe(1);
    expect(duplicate.output).toMatch(/username is taken/);

    const [user] = await sql`SELECT role, status FROM users WHERE username = 'root.admin'`;
    expect(user).toEqual({ role: 'admin', status: 'active' });
    const [event] = await sql`SELECT actor_label, action FROM events WHERE target_label = 'root.admin'`;
    expect(event).toEqual({ actor_label: 'cli', action: 'user.created' });

    const listed = await runCli(['list-users'], env);
    expect(listed.output).toMatch(/root\.admin\troot@example\.com\tadmin\tactive/);

    const migrate = await runCli(['migrate'], env);
    expect(migrate.code).toBe(0);
    expect(migrate.output).toMatch(/up to date/);
    await sql.end();
  });

  test('reset-password sets the password and ends the sessions', async () => {
    const { url: databaseUrl, sql } = await createTestDatabase();
    const env = { DATABASE_URL: databaseUrl };
    await runCli(['create-admin', '--username', 'ops', '--email', 'ops@example.com', '--password', 'first passphrase'], env);
    await sql`INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'x', id, now() + interval '1 day' FROM users WHERE username = 'ops'`;
    const reset = await runCli(['reset-password', '--login', 'ops@example.com', '--password', 'second passphrase'], env);
    expect(reset.code, reset.output).toBe(0);
    expect(await sql`SELECT 1 FROM sessions`).toHaveLength(0);
    const actions = await sql`SELECT action FROM events WHERE actor_label = 'cli' ORDER BY id`;
    expect(actions.map((e) => e.action)).toEqual(['user.created', 'user.password_reset', 'session.revoked']);
    const unknown = await runCli(['reset-password', '--login', 'nobody', '--password', 'second passphrase'], env);
    expect(unknown.code).toBe(1);
    await sql.end();
  });

  test('reset-two-factor removes a second factor when no admin can sign in to do it; ends the sessions', async () => {
    const { url: databaseUrl, sql } = await createTestDatabase();
    const env = { DATABASE_URL: databaseUrl };
    await runCli(['create-admin', '--username', 'ops', '--email', 'ops@example.com', '--password', 'first passphrase'], env);
    await sql`UPDATE users SET two_factor_enabled_at = now() WHERE username = 'ops'`;
    await sql`INSERT INTO user_totp (user_id, secret) SELECT id, '\\x00'::bytea FROM users WHERE username = 'ops'`;
    await sql`INSERT INTO recovery_codes (user_id, code_hash) SELECT id, 'h' FROM users WHERE username = 'ops'`;
    await sql`INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'x', id, now() + interval '1 day' FROM users WHERE username = 'ops'`;
    const reset = await runCli(['reset-two-factor', '--login', 'ops'], env);
    expect(reset.code, reset.output).toBe(0);
    expect(reset.output).toMatch(/Two-factor sign-in of ops removed/);
    expect(await sql`SELECT 1 FROM sessions`).toHaveLength(0);
    expect(await sql`SELECT 1 FROM user_totp`).toHaveLength(0);
    expect(await sql`SELECT 1 FROM recovery_codes`).toHaveLength(0);
    expect((await sql`SELECT two_factor_enabled_at FROM users WHERE username = 'ops'`)[0]!.two_factor_enabled_at).toBeNull();
    const [event] = await sql`SELECT actor_label, action FROM events WHERE action = 'user.two_factor_reset'`;
    expect(event).toEqual({ actor_label: 'cli', action: 'user.two_factor_reset' });
    const again = await runCli(['reset-two-factor', '--login', 'ops'], env);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/has not set up two-factor sign-in/);
    expect((await runCli(['reset-two-factor', '--login', 'nobody'], env)).code).toBe(1);
    await sql.end();
  });

  test('an unknown command prints the usage and exits 2', async () => {
    const result = await runCli(['frobnicate'], {});
    expect(result.code).toBe(2);
    expect(result.output).toMatch(/Usage: npm run roster/);
  });
});
