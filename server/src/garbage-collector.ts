import { setFlagsFromString } from 'node:v8';

/**
 * Turns off V8's allocation-site pretenuring; called as the process starts, before it serves
 * anything, since V8 never takes a verdict back (it judges sites only once the young generation has
 * grown to its full size, under load). Under sustained load it came to create request objects in
 * the old generation, where they kept whole requests alive through every young-generation
 * collection (BENCHMARKS.md, "Allocation-site pretenuring").
 */
export function tuneGarbageCollector(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
