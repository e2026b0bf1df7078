import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.ts';
import { isArrayTypeFetchFailure } from './database.ts';
import { tuneGarbageCollector } from './garbage-collector.ts';
import { createLogger } from './logger.ts';
import { openDatabase } from './runtime.ts';
import { startServer } from './server.ts';
import { issueSetupToken } from './services/setup.ts';

const webRoot = fileURLToPath(new URL('../../web/build/', import.meta.url));

async function main() {
  tuneGarbageCollector();
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  process.on('unhandledRejection', (reason) => {
    if (isArrayTypeFetchFailure(reason)) return void log.warn({ err: reason }, 'a database connection was cut while it opened');
    // Anything else is a bug: it ends the process, as Node would without this handler.
    throw reason;
  });
  // Signals are handled from the start: one arriving during start-up still stops everything cleanly.
  let stopRequested: string | null = null;
  let stop = (signal: string) => void (stopRequested = signal);
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const database = await openDatabase(config, log);
  const server = await startServer({ config, sql: database.sql, databaseUrl: database.url, log, webRoot });
  const publicUrl = config.ROSTER_ORIGIN?.[0] ?? server.url;

  const lines = [``, `  Roster is running at ${publicUrl}`];
  lines.push(database.embedded ? `  Database: embedded PostgreSQL in ${path.resolve(config.ROSTER_DATA_DIR, 'pg')}` : `  Database: DATABASE_URL`);
  if (!server.mailConfigured) {
    lines.push(`  Mail: not configured (SMTP_URL is unset): invitation and password reset mails are written to this log`);
  }
  const setupToken = await issueSetupToken(database.sql);
  if (setupToken) {
    lines.push(
      ``,
      `  No user exists yet. Create the first admin here (this link works once):`,
      `    ${publicUrl}/setup?token=${setupToken}`,
      `  or from a shell:`,
      `    npm run roster -- create-admin --username admin --email admin@example.com --password '…'`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n\n');

  let stopping = false;
  stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void server
      .close()
      .then(() => database.close())
      .then(() => process.exit(0));
  };
  if (stopRequested) stop(stopRequested);
}

main().catch((error: unknown) => {
  process.stderr.write(`Roster could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
