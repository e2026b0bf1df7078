// Fixes two faults of postgres.js 3.4.9 (the newest release) after every install: package.json runs
// this as "postinstall". Each fix applies to the ES module, CommonJS and Cloudflare copies alike.
//
// 1. The connection queue (queue.js). The pool keeps its idle connections in it. `shift` clears the
//    slot it takes but empties the array only when the queue runs empty, and `remove` scans the
//    whole array. A pool that always has a connection waiting (any pool once a burst has opened a
//    second connection) never runs empty: its array grows by one slot per query, without end, and
//    every query scans all of it. Sequential queries fell from 11,000 to 5,800 per second within
//    20 s. The queue below starts `remove` at the first slot in use and drops the spent slots once
//    they are the greater part of the array.
// 2. Every query outliving its young-generation collections (query.js). V8's parser allocates a
//    function literal assigned straight to a property in the old generation, and the Query
//    constructor assigns its `resolve` and `reject` arrows that way: each query's two closures were
//    born old, and through their context kept the query, its parameters and its result rows alive
//    through every young-generation collection until the next full one. Under load 2–3 MB of each
//    13 MB young generation survived, and the collector's pauses took a quarter of a request's
//    time. The same arrows assigned through local constants are allocated young.
//
// BENCHMARKS.md ("What the garbage collector kept, and the connection pool over time") has the measurements.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const QUEUE = `function Queue(initial = []) {
  let xs = initial.slice()
  let index = 0

  return {
    get length() {
      return xs.length - index
    },
    remove: (x) => {
      const index = xs.indexOf(x)
      return index === -1
        ? null
        : (xs.splice(index, 1), x)
    },
    push: (x) => (xs.push(x), x),
    shift: () => {
      const out = xs[index++]

      if (index === xs.length) {
        index = 0
        xs = []
      } else {
        xs[index - 1] = undefined
      }

      return out
    }
  }
}
`;

const QUEUE_FIXED = `function Queue(initial = []) {
  let xs = initial.slice()
  let index = 0

  return {
    get length() {
      return xs.length - index
    },
    remove: (x) => {
      const found = xs.indexOf(x, index)
      return found === -1
        ? null
        : (xs.splice(found, 1), x)
    },
    push: (x) => (xs.push(x), x),
    shift: () => {
      const out = xs[index++]

      if (index === xs.length) {
        index = 0
        xs = []
      } else if (index >= 64 && index * 2 >= xs.length) {
        xs = xs.slice(index)
        index = 0
      } else {
        xs[index - 1] = undefined
      }

      return out
    }
  }
}
`;

const QUERY_CLOSURES = `    this.resolve = x => (this.active = false, resolve(x))
    this.reject = x => (this.active = false, reject(x))
`;

const QUERY_CLOSURES_FIXED = `    const settle = x => (this.active = false, resolve(x))
        , fail = x => (this.active = false, reject(x))
    this.resolve = settle
    this.reject = fail
`;

const fixes = [
  { file: 'queue.js', original: QUEUE, fixed: QUEUE_FIXED },
  { file: 'query.js', original: QUERY_CLOSURES, fixed: QUERY_CLOSURES_FIXED },
];

// `postgres` resolves to its CommonJS entry, cjs/src/index.js. Nothing here may fail an install: a
// layout or text it does not know is left as it is, with a warning. server/package.json pins the
// version, and the test suite checks both faults whatever is installed
// (server/src/connection-pool.test.ts), so CI says when this needs revisiting.
let packageRoot;
try {
  packageRoot = path.resolve(path.dirname(createRequire(import.meta.url).resolve('postgres')), '../..');
} catch {
  console.warn('patch-postgres: postgres is not installed here; nothing to fix');
  process.exit(0);
}
for (const { file, original, fixed } of fixes) {
  for (const copy of ['src', 'cjs/src', 'cf/src']) {
    const location = path.join(packageRoot, copy, file);
    try {
      const source = readFileSync(location, 'utf8');
      if (source.includes(fixed)) continue;
      if (!source.includes(original)) {
        console.warn(`patch-postgres: ${location} is not the code this fix was written for; left as it is`);
        continue;
      }
      writeFileSync(location, source.replace(original, fixed));
    } catch (error) {
      console.warn(`patch-postgres: ${location} could not be fixed (${error.message}); left as it is`);
    }
  }
}
