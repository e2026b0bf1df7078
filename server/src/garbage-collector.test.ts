import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';

// V8 judges each place in the code that creates objects (an allocation site) by how many of its
// objects survive young-generation collections; once nearly all do, optimized code creates the next
// ones in the old generation. In a process of its own, with the loop optimized at once and no
// background threads, V8's verdict does not depend on timing (BENCHMARKS.md, "Allocation-site pretenuring").
const program = `
  const { tuneGarbageCollector } = await import(${JSON.stringify(new URL('./garbage-collector.ts', import.meta.url).href)});
  if (process.argv.includes('tuned')) tuneGarbageCollector();
  const create = (i) => ({ i, inner: { i } });
  function fill(kept) { for (let i = 0; i < 50000; i++) kept.push(create(i)); }
  %PrepareFunctionForOptimization(fill);
  fill([]);
  fill([]);
  %OptimizeFunctionOnNextCall(fill);
  const kept = [];
  for (let round = 0; round < 6; round++) {
    fill(kept);
    gc({ type: 'minor' });
  }
  let young = 0;
  for (let i = 0; i < 10; i++) if (%InYoungGeneration(create(i))) young++;
  process.stdout.write(String(young));
`;

/** Of ten objects from a site whose 300,000 earlier ones all survived, how many are born young. */
function bornYoung(tuned: boolean): number {
  const flags = ['--import', 'tsx', '--allow-natives-syntax', '--expose-gc', '--single-threaded', '--input-type=module'];
  return Number(execFileSync(process.execPath, [...flags, '-e', program, ...(tuned ? ['tuned'] : [])], { encoding: 'utf8' }));
}

test("with the tuning the server's process starts with, objects stay young however long their site's earlier ones lived", () => {
  // V8's default: the site now creates its objects old.
  expect(bornYoung(false)).toBe(0);
  expect(bornYoung(true)).toBe(10);
});
