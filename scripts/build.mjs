// Builds what is out of date, and only that: the console (Vite, into web/build) and the server
// (esbuild, one bundle per entry point into server/dist, dependencies left to node_modules).
// `npm start` runs it, so a second start skips both; `--force` rebuilds everything.
//
//   node scripts/build.mjs [console|server ...] [--force]
import { spawnSync } from 'node:child_process';
import { cp, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const require = createRequire(import.meta.url);

const targets = {
  console: {
    output: 'web/build/index.html',
    inputs: ['web/src', 'web/static', 'web/svelte.config.js', 'web/vite.config.ts', 'web/package.json', 'shared/src'],
    build: buildConsole,
  },
  server: {
    output: 'server/dist/main.js',
    inputs: ['server/src', 'shared/src', 'db', 'server/package.json', 'scripts/build.mjs'],
    build: buildServer,
  },
};

async function buildConsole() {
  const result = spawnSync('npm', ['run', 'build', '--workspace', 'web'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('the console did not build');
}

async function buildServer() {
  const { build } = await import('esbuild');
  const dependencies = (name) => Object.keys(require(path.join(root, name, 'package.json')).dependencies ?? {});
  await rm(path.join(root, 'server/dist'), { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: ['server/src/main.ts', 'server/src/cli.ts'],
    outdir: 'server/dist',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    sourcemap: true,
    // Installed packages stay in node_modules; the workspace's own TypeScript (shared/) is bundled.
    external: [...dependencies('server'), ...dependencies('shared')],
    logLevel: 'warning',
  });
  // The migration runner reads its SQL files next to itself.
  await cp(path.join(root, 'db/migrations'), path.join(root, 'server/dist/migrations'), { recursive: true });
}

/** The newest modification time under `entry` (a file or a folder), 0 when it does not exist. */
async function newest(entry) {
  const info = await stat(entry).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  const children = await readdir(entry);
  const times = await Promise.all(children.map((child) => newest(path.join(entry, child))));
  return Math.max(info.mtimeMs, ...times);
}

const args = process.argv.slice(2);
const force = args.includes('--force');
const chosen = args.filter((arg) => !arg.startsWith('--'));
for (const name of chosen.length > 0 ? chosen : Object.keys(targets)) {
  const target = targets[name];
  if (!target) throw new Error(`unknown build target "${name}"; choose console or server`);
  const built = await newest(path.join(root, target.output));
  const changed = Math.max(...(await Promise.all(target.inputs.map((input) => newest(path.join(root, input))))));
  if (!force && built > changed) continue;
  const started = performance.now();
  await target.build();
  process.stderr.write(`built the ${name} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
