import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import postgres from 'postgres';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

// Two faults of postgres.js 3.4.9 that scripts/patch-postgres.mjs fixes on install.

// The pool keeps its idle connections in this queue.
interface Queue<T> {
  readonly length: number;
  push(x: T): T;
  shift(): T | undefined;
  remove(x: T): T | null;
}
type QueueOf = <T>(initial?: T[]) => Queue<T>;
const require = createRequire(import.meta.url);
// `postgres` resolves to its CommonJS entry, cjs/src/index.js; the package also ships an ES module
// copy (src/, what `import` loads) and one for Cloudflare Workers (cf/src/). The fix is in each.
const packageRoot = path.resolve(path.dirname(require.resolve('postgres')), '../..');
const queues: [string, QueueOf][] = [
  ['src', ((await import(pathToFileURL(path.join(packageRoot, 'src/queue.js')).href)) as { default: QueueOf }).default],
  ['cf/src', ((await import(pathToFileURL(path.join(packageRoot, 'cf/src/queue.js')).href)) as { default: QueueOf }).default],
  ['cjs/src', require(path.join(packageRoot, 'cjs/src/queue.js')) as QueueOf],
];

describe.each(queues)('the pool queue of %s', (_copy, Queue) => {
  test('hands out in order, removes from anywhere and counts what it holds, as an array would', () => {
    // Long runs that seldom empty the queue, so that the fixed queue's compaction (once 64 slots are
    // spent and they are half the array) happens many times over.
    const operation = fc.oneof(
      { arbitrary: fc.constant({ kind: 'push' as const }), weight: 4 },
      { arbitrary: fc.constant({ kind: 'shift' as const }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(operation, { minLength: 100, maxLength: 2_000 }), fc.nat({ max: 5 }), (operations, initial) => {
        const model = Array.from({ length: initial }, (_, i) => -1 - i);
        const queue = Queue([...model]);
        let next = 0;
        for (const operation of operations) {
          if (operation.kind === 'push') {
            expect(queue.push(next)).toBe(next);
            model.push(next++);
          } else if (operation.kind === 'shift') {
            expect(queue.shift()).toBe(model.shift());
          } else {
            // Now and then a connection the queue does not hold (`next` is not pushed yet).
            const pick = operation.pick % (model.length + 1);
            const x = pick === model.length ? next : model[pick]!;
            const at = model.indexOf(x);
            if (at !== -1) model.splice(at, 1);
            expect(queue.remove(x)).toBe(at === -1 ? null : x);
          }
          expect(queue.length).toBe(model.length);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('does not grow with every use when it never runs empty (postgres.js 3.4.9 kept a slot per query for ever)', () => {
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
});

test.each([
  ['src', postgres],
  ['cjs/src', require('postgres') as typeof postgres],
])("a query's own closures are born in the young generation, so a finished query does not outlive its young-generation collection (%s)", (_copy, connect) => {
  // V8 allocates a function literal assigned straight to a property in the old generation; from
  // there the Query's `resolve` and `reject` kept the query and its rows alive until a full collection.
  setFlagsFromString('--allow-natives-syntax');
  const young = new Function('value', 'return %InYoungGeneration(value)') as (value: unknown) => boolean;
  const sql = connect('postgres://roster@127.0.0.1:1/roster', { max: 1 });
  const query = sql`SELECT 1` as unknown as { resolve: unknown; reject: unknown };
  expect({ resolve: young(query.resolve), reject: young(query.reject) }).toEqual({ resolve: true, reject: true });
});
