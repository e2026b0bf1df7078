import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { tuneGarbageCollector } from './garbage-collector.ts';

// V8 judges each place in the code that creates objects (an allocation site) by how many of its
// objects survive young-generation collections; once nearly all do, it creates the next ones in the
// old generation. A burst of slow requests makes the request-handling sites look long-lived, and
// from then on every request's objects are born old (BENCHMARKS.md, "Allocation-site pretenuring").

setFlagsFromString('--allow-natives-syntax');
setFlagsFromString('--expose-gc');
const young = new Function('value', 'return %InYoungGeneration(value)') as (value: unknown) => boolean;
const gc = runInNewContext('gc') as (options?: { type: 'minor' }) => void;

/** Objects from `create`'s site, all kept through six young collections, then ten more: how many of those are young. */
function youngAfterSurvivors(create: (i: number) => object): number {
  const kept: object[] = [];
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 50_000; i++) kept.push(create(i));
    gc({ type: 'minor' });
  }
  return Array.from({ length: 10 }, (_, i) => create(i)).filter(young).length;
}

test("after a burst of long-lived requests, the server's objects are still born young", () => {
  // What V8 does by default: a site whose objects all survived now creates them old.
  expect(youngAfterSurvivors((i) => ({ i, inner: { i } }))).toBe(0);
  tuneGarbageCollector();
  // Another site (the first one's verdict stands): with the tuning, its objects stay young.
  expect(youngAfterSurvivors((i) => ({ i, inner: { i } }))).toBe(10);
});
