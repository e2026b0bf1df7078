import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { runMigrations } from '../../db/migrate.ts';
import { connect, startEmbeddedPostgres } from '../../server/src/database.ts';
import { createLogger } from '../../server/src/logger.ts';

export const TEMPLATE_DATABASE = 'roster_template';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the run's PostgreSQL (database `postgres`). */
    postgresUrl: string;
  }
}

/** One embedded PostgreSQL for the whole run, with a migrated template that each test file clones. */
export default async function setup(project: TestProject) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'roster-test-'));
  const postgres = await startEmbeddedPostgres(dataDir, createLogger('warn'));
  const admin = connect(postgres.url, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  const template = connect(databaseUrl(postgres.url, TEMPLATE_DATABASE), { max: 1 });
  await runMigrations(template);
  await template.end();
  project.provide('postgresUrl', postgres.url);

  return async () => {
    await postgres.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
