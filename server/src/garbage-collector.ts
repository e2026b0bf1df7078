import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8 from creating objects in the old generation because earlier objects from the same place
 * in the code lived long (allocation-site pretenuring). During a burst, such as a change fanned out
 * to thousands of sockets, requests wait long enough for the sites that build a request's objects
 * to be judged long-lived; from then on each request was born partly old, and those old objects
 * kept the rest of it alive through every young-generation collection: the collections took 4 ms
 * instead of under 2, and GET /auth/me's p99 rose from 3 to 5 ms, for as long as the process ran
 * (BENCHMARKS.md, "Allocation-site pretenuring"). A server's objects live for one request or for
 * the whole run, and the second kind reach the old generation after two collections anyway.
 * Set at run time, so that every way of starting the server has it (it takes effect then: see
 * garbage-collector.test.ts).
 */
export function tuneGarbageCollector(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
