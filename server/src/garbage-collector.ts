import { setFlagsFromString } from 'node:v8';

/**
 * Turns off V8's allocation-site pretenuring, first thing in the process, before V8 has judged any
 * site (it never takes a verdict back). Under sustained load it came to create request objects in
 * the old generation, where they kept whole requests alive through every young-generation
 * collection (BENCHMARKS.md, "Allocation-site pretenuring").
 */
export function tuneGarbageCollector(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
