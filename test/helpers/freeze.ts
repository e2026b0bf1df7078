import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Freezes a PostgreSQL cluster as a hung host would: every one of its processes (the postmaster
 * and each backend) gets SIGSTOP. The kernel still completes TCP handshakes on its port, but
 * nothing answers. Resolves with the function that thaws it (SIGCONT).
 */
export async function freezeCluster(pgDir: string): Promise<() => void> {
  const postmaster = Number((await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  // The postmaster first, so it forks no backend the list below would miss.
  process.kill(postmaster, 'SIGSTOP');
  const children = await childrenOf(postmaster);
  for (const pid of children) process.kill(pid, 'SIGSTOP');
  return () => {
    for (const pid of children) process.kill(pid, 'SIGCONT');
    process.kill(postmaster, 'SIGCONT');
  };
}

async function childrenOf(parent: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const children: number[] = [];
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    // Field 4 (ppid) follows the command name, which is in parentheses and may contain spaces.
    const ppid = stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : NaN;
    if (ppid === parent) children.push(pid);
  }
  return children;
}
