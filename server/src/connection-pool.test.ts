import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import postgres from 'postgres';
import { expect, test } from 'vitest';

// Two faults of postgres.js 3.4.9 that scripts/patch-postgres.mjs fixes on install.

// The pool keeps its idle connections in this queue.
interface Queue<T> {
  readonly length: number;
  push(x: T): T;
  shift(): T | undefined;
  remove(x: T): T | null;
}
const packageRoot = path.resolve(path.dirname(createRequire(import.meta.url).resolve('postgres')), '../..');
const { default: Queue } = (await import(pathToFileURL(path.join(packageRoot, 'src/queue.js')).href)) as { default: <T>(initial?: T[]) => Queue<T> };

test('the pool queue hands out in order, removes from the middle and counts what it holds', () => {
  const queue = Queue(['a', 'b']);
  queue.push('c');
  queue.push('d');
  expect(queue.shift()).toBe('a');
  expect(queue.remove('c')).toBe('c');
  expect(queue.remove('a')).toBeNull();
  expect(queue.length).toBe(2);
  expect([queue.shift(), queue.shift(), queue.length]).toEqual(['b', 'd', 0]);
  queue.push('e');
  expect([queue.shift(), queue.length]).toEqual(['e', 0]);
});

test('a pool queue that never runs empty does not grow with every use (postgres.js 3.4.9 kept a slot per query for ever)', () => {
  // A pool after a burst opened two connections, then one query at a time: one connection waits
  // while the other serves, so the queue of waiting connections never runs empty.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const queue = Queue<object>([{}, {}]);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let query = 0; query < 1_000_000; query++) {
    // The pool also asks the queue to remove the connection it just took, which scanned the whole
    // array: left out here, or the unfixed queue would take minutes to fail.
    queue.push(queue.shift()!);
  }
  gc();
  // Kept for ever, a million slots would be 8 MB of array.
  expect(process.memoryUsage().heapUsed - before).toBeLessThan(2_000_000);
  expect(queue.length).toBe(2);
});

test("a query's own closures are born in the young generation, so a finished query does not outlive its young-generation collection", () => {
  // V8 allocates a function literal assigned straight to a property in the old generation; from
  // there the Query's `resolve` and `reject` kept the query and its rows alive until a full collection.
  setFlagsFromString('--allow-natives-syntax');
  const young = new Function('value', 'return %InYoungGeneration(value)') as (value: unknown) => boolean;
  const sql = postgres('postgres://roster@127.0.0.1:1/roster', { max: 1 });
  const query = sql`SELECT 1` as unknown as { resolve: unknown; reject: unknown };
  expect({ resolve: young(query.resolve), reject: young(query.reject) }).toEqual({ resolve: true, reject: true });
});
