import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface RosterProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout + stderr; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/**
 * Runs a Roster entry point as a real process: the sources through tsx (`server/src/main.ts`,
 * `server/src/cli.ts`), or the production bundle as it is (`server/dist/main.js`).
 */
export function spawnRoster(entry: string, args: string[], env: Record<string, string>): RosterProcess {
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, entry, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => text,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output:\n${text}`));
        }, timeoutMs);
        const onExit = (code: number | null) => {
          cleanup();
          reject(new Error(`process exited (${code}) before ${pattern}; output:\n${text}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
  };
}

/** Runs a CLI command to completion (from the sources, or the given entry point). */
export async function runCli(args: string[], env: Record<string, string>, entry = 'server/src/cli.ts'): Promise<{ code: number | null; output: string }> {
  const cli = spawnRoster(entry, args, env);
  const code = await cli.exited;
  return { code, output: cli.output() };
}
