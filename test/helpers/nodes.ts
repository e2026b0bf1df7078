import { spawnRoster, type RosterProcess } from './processes.ts';
import type { TestServer } from './server.ts';

export interface Node {
  process: RosterProcess;
  /** Enough of a TestServer for ApiClient and socket helpers: its address and origin. */
  target: TestServer;
}

/** Enough of a TestServer for ApiClient and the socket helpers: a server's address, used as its origin. */
export function serverAt(url: string, databaseUrl: string): TestServer {
  return { url, origin: url, databaseUrl } as TestServer;
}

/** Starts a Roster node as a real process on a random port against `databaseUrl`. */
export async function startNode(databaseUrl: string, env: Record<string, string> = {}): Promise<Node> {
  const process = spawnRoster('server/src/main.ts', [], { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', ...env });
  const url = (await process.waitFor(/running at (http:\S+)/))[1]!;
  return { process, target: serverAt(url, databaseUrl) };
}

export async function stopNode(node: Node, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (node.process.child.exitCode === null && node.process.child.signalCode === null) node.process.child.kill(signal);
  return node.process.exited;
}
