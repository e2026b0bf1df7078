import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { connect, type Sql } from '../../server/src/database.ts';
import { databaseUrl, TEMPLATE_DATABASE } from './global-setup.ts';

/** A new database for one test file: a clone of the migrated template, or empty when asked. */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<{ url: string; sql: Sql }> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const serverUrl = inject('postgresUrl');
  const admin = connect(serverUrl, { max: 1 });
  try {
    await admin.unsafe(options.empty ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);
  return { url, sql: connect(url) };
}
