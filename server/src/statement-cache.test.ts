import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../test/helpers/database.ts';

// scripts/patch-postgres.mjs keeps the text and signature of each tagged query's call site with its
// strings, instead of rebuilding them on every call. Queries must answer exactly as before.

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(require.resolve('postgres')), '../..');
let url: string;
let setup: postgres.Sql;

beforeAll(async () => {
  ({ url, sql: setup } = await createTestDatabase({ empty: true }));
});
afterAll(async () => {
  await setup.end();
});

describe.each([
  ['src', postgres],
  ['cjs/src', require('postgres') as typeof postgres],
])('statements through %s', (_copy, connect) => {
  // One connection, so that its prepared statements can be counted.
  let sql: postgres.Sql;
  beforeAll(() => {
    sql = connect(url, { max: 1, onnotice: () => undefined });
  });
  afterAll(async () => {
    await sql.end();
  });
  const prepared = async (text: string) =>
    Number((await sql<{ n: string }[]>`SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = ${text}`)[0]!.n);

  test('two call sites with the same values answer each its own query, each prepared once', async () => {
    const plus = (n: number) => sql<{ x: number }[]>`SELECT ${n}::int + 1 AS x`;
    const times = (n: number) => sql<{ x: number }[]>`SELECT ${n}::int * 2 AS x`;
    for (let n = 0; n < 20; n++) {
      const [[a], [b]] = await Promise.all([plus(n), times(n)]);
      expect([a!.x, b!.x]).toEqual([n + 1, n * 2]);
    }
    expect([await prepared('SELECT $1::int + 1 AS x'), await prepared('SELECT $1::int * 2 AS x')]).toEqual([1, 1]);
  });

  test('one call site answers for each of its parameters, also when their types change', async () => {
    const echo = (value: unknown) => sql<{ t: string }[]>`SELECT ${value as string}::text AS t, ${'fixed'} AS f`;
    const at = new Date('2026-01-02T03:04:05.678Z');
    for (let round = 0; round < 3; round++) {
      expect((await echo('plain'))[0]).toEqual({ t: 'plain', f: 'fixed' });
      expect((await echo(42))[0]).toEqual({ t: '42', f: 'fixed' });
      expect(new Date((await echo(at))[0]!.t).getTime()).toBe(at.getTime());
      expect((await echo(true))[0]).toEqual({ t: 'true', f: 'fixed' });
      expect((await echo(null))[0]).toEqual({ t: null, f: 'fixed' });
      expect((await echo(sql.typed('x', 25)))[0]).toEqual({ t: 'x', f: 'fixed' });
    }
  });

  test('a call site given a fragment, an identifier or a list of values builds its text from them', async () => {
    const select = (value: unknown) => sql<{ v: unknown }[]>`SELECT ${value as string} AS v FROM (SELECT 7 AS seven) t`;
    for (let round = 0; round < 3; round++) {
      expect((await select(1))[0]!.v).toBe('1');
      expect((await select(sql`1 + 1`))[0]!.v).toBe(2);
      expect((await select(sql('seven')))[0]!.v).toBe(7);
      expect((await select([sql`3`, sql`+ 4`]))[0]!.v).toBe(7);
      expect((await select('text'))[0]!.v).toBe('text');
    }
    const within = (ids: number[]) => sql<{ n: number }[]>`SELECT n FROM generate_series(1, 5) n WHERE n IN ${sql(ids)} ORDER BY n`;
    expect((await within([2, 4])).map((r) => r.n)).toEqual([2, 4]);
    expect((await within([1, 3, 5])).map((r) => r.n)).toEqual([1, 3, 5]);
  });
});

test('the patch applies once: running it again changes nothing and warns of nothing', () => {
  const files = ['src', 'cjs/src', 'cf/src'].flatMap((copy) => ['types.js', 'connection.js', 'query.js', 'queue.js'].map((file) => path.join(packageRoot, copy, file)));
  const digest = () => files.map((file) => createHash('sha256').update(readFileSync(file)).digest('hex'));
  const before = digest();
  for (const file of files.filter((f) => f.endsWith('types.js'))) expect(readFileSync(file, 'utf8')).toMatch(/function callSite\(/);
  const run = spawnSync(process.execPath, [path.resolve(import.meta.dirname, '../../scripts/patch-postgres.mjs')], { encoding: 'utf8' });
  expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
  expect(digest()).toEqual(before);
});
