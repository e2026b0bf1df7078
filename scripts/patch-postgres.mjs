// Fixes two faults of postgres.js 3.4.9 (the newest release), and takes a cost off every query, after
// every install: package.json runs this as "postinstall". Each change applies to the ES module,
// CommonJS and Cloudflare copies alike.
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
// 3. The statement text rebuilt on every call (types.js, connection.js). Each query joined its
//    strings and placeholders into a new text, prefixed it with its parameter types, and looked the
//    prepared statement up by that new string, hashing all of it: for the session check's
//    24-column statement 4–5 µs of every authenticated request. A tagged query whose values are all
//    parameters has one text per call site, so its text and signature are kept with the call site's
//    strings array (the same array on every call) and the lookup hashes nothing new. Queries with
//    fragments, identifiers or helpers are built as before (server/src/statement-cache.test.ts).
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

const STRINGIFY = `(q, string, value, parameters, types, options) { // eslint-disable-line
  for (let i = 1; i < q.strings.length; i++) {
    string += (stringifyValue(string, value, parameters, types, options)) + q.strings[i]
    value = q.args[i]
  }

  return string
}
`;

// \`export function\` in the ES module copies, \`module.exports.name = name;function\` in the CommonJS one.
const CALL_SITE = (exported) => `${STRINGIFY}
// A tagged query whose values are all parameters (no fragment, identifier or helper) has the same
// text on every call from its call site, and the same signature while its parameter types stay the
// same: both are kept with the site's strings (one array per call site) instead of being rebuilt and
// hashed again on every call. Null for any other query, which \`stringify\` builds as before.
const callSites = new WeakMap()

${exported('callSite')}(q, parameters, types, options) {
  const args = q.args
  for (let i = 0; i < args.length; i++) {
    const x = args[i]
    if (x instanceof Builder || x instanceof Query || x instanceof Identifier || (x && x[0] instanceof Query))
      return null
  }
  for (let i = 0; i < args.length; i++)
    handleValue(args[i], parameters, types, options)

  let site = callSites.get(q.strings)
  if (site === undefined) {
    let string = q.strings[0]
    for (let i = 1; i < q.strings.length; i++)
      string += '$' + i + q.strings[i]
    callSites.set(q.strings, site = { string, types: null, signature: '' })
  }
  if (!sameTypes(site.types, types)) {
    site.types = types.slice()
    site.signature = types + site.string
  }
  return site
}

function sameTypes(a, b) {
  if (a === null || a.length !== b.length)
    return false
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i])
      return false
  }
  return true
}
`;

const IMPORTS = '{ stringify, handleValue, arrayParser, arraySerializer }';
const IMPORTS_FIXED = '{ stringify, handleValue, arrayParser, arraySerializer, callSite }';

const BUILD = `    const string = stringify(q, q.strings[0], q.args[0], parameters, types, options)

    !q.tagged && q.args.forEach(x => handleValue(x, parameters, types, options))

    q.prepare = options.prepare && ('prepare' in q.options ? q.options.prepare : true)
    q.string = string
    q.signature = q.prepare && types + string
`;

const BUILD_FIXED = `    const site = q.tagged ? callSite(q, parameters, types, options) : null
    const string = site ? site.string : stringify(q, q.strings[0], q.args[0], parameters, types, options)

    !q.tagged && q.args.forEach(x => handleValue(x, parameters, types, options))

    q.prepare = options.prepare && ('prepare' in q.options ? q.options.prepare : true)
    q.string = string
    q.signature = q.prepare && (site ? site.signature : types + string)
`;

const fixes = [
  { file: 'queue.js', original: QUEUE, fixed: QUEUE_FIXED },
  { file: 'query.js', original: QUERY_CLOSURES, fixed: QUERY_CLOSURES_FIXED },
  { file: 'types.js', original: STRINGIFY, fixed: CALL_SITE },
  { file: 'connection.js', original: IMPORTS, fixed: IMPORTS_FIXED },
  { file: 'connection.js', original: BUILD, fixed: BUILD_FIXED },
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
for (const { file, original, fixed: fix } of fixes) {
  for (const copy of ['src', 'cjs/src', 'cf/src']) {
    const location = path.join(packageRoot, copy, file);
    try {
      const source = readFileSync(location, 'utf8');
      const commonJs = source.includes('module.exports.');
      const fixed = typeof fix === 'string' ? fix : fix((name) => (commonJs ? `module.exports.${name} = ${name};function ${name}` : `export function ${name}`));
      if (source.includes(fixed)) continue;
      if (!source.includes(original)) {
        console.warn(`patch-postgres: ${location} is not the code this fix was written for; left as it is`);
        continue;
      }
      // A function, so that `$` in the fixed text is taken as it is.
      writeFileSync(location, source.replace(original, () => fixed));
    } catch (error) {
      console.warn(`patch-postgres: ${location} could not be fixed (${error.message}); left as it is`);
    }
  }
}
