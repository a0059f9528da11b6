/**
 * CPU time spent by processes during a run, from /proc (Linux): a figure
 * that, unlike requests per second, barely moves when other work shares the
 * machine. PostgreSQL's is its postmaster's own and waited-for children's
 * time plus that of every backend alive, so backends that end mid-run count.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** utime, stime, cutime, cstime of a process, in seconds (undefined once it is gone). */
function times(pid: number): [number, number, number, number] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which may hold spaces, in parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const at = (field: number) => Number(fields[field - 3]) / TICKS_PER_SECOND;
    return [at(14), at(15), at(16), at(17)];
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** CPU seconds of a process so far (its threads included). */
export function processCpu(pid: number): number {
  const t = times(pid);
  return t ? t[0] + t[1] : 0;
}

/** CPU seconds of a PostgreSQL server so far: the postmaster, its ended children and its live ones. */
export function postgresCpu(dataDir: string): number {
  const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
  const own = times(pid);
  if (!own) return 0;
  return own.reduce((a, b) => a + b, 0) + childrenOf(pid).reduce((sum, child) => sum + processCpu(child), 0);
}

/** CPU seconds spent by this process so far. */
export function ownCpu(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Measures the CPU seconds `counters` report across `work`. */
export async function cpuAcross<T>(counters: Record<string, () => number>, work: () => Promise<T>): Promise<{ result: T; cpu: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(counters).map(([name, read]) => [name, read()]));
  const result = await work();
  const cpu = Object.fromEntries(Object.entries(counters).map(([name, read]) => [name, read() - before[name]!]));
  return { result, cpu };
}
