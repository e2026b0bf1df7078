// Fixes the connection queue of postgres.js 3.4.9 (src/queue.js, and its CommonJS and Cloudflare
// copies) after every install: package.json runs this as "postinstall". Until a release fixes it.
//
// The pool keeps its idle connections in this queue. `shift` clears the slot it takes but empties
// the array only when the queue runs empty, and `remove` scans the whole array. A pool that always
// has a connection waiting (any pool once a burst has opened a second connection) never runs empty:
// its array grows by one slot per query, without end, and every query scans all of it. Sequential
// queries fell from 11,000 to 5,800 per second within 20 s (BENCHMARKS.md, "The connection pool
// over time"). The queue below starts `remove` at the first slot in use and drops the spent slots
// once they are the greater part of the array.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const ORIGINAL = `function Queue(initial = []) {
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

const FIXED = `function Queue(initial = []) {
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

// `postgres` resolves to its CommonJS entry, cjs/src/index.js.
const packageRoot = path.resolve(path.dirname(createRequire(import.meta.url).resolve('postgres')), '../..');
for (const file of ['src/queue.js', 'cjs/src/queue.js', 'cf/src/queue.js']) {
  const location = path.join(packageRoot, file);
  const source = readFileSync(location, 'utf8');
  if (source.includes(FIXED)) continue;
  if (!source.includes(ORIGINAL)) {
    // A newer postgres.js: its queue may be fixed or different. The test suite checks the queue
    // either way (server/src/connection-pool.test.ts), so CI says if this needs revisiting.
    console.warn(`patch-postgres: ${location} is not the queue this fix was written for; left as it is`);
    continue;
  }
  writeFileSync(location, source.replace(ORIGINAL, FIXED));
}
