/** The servers under test, each a child process on a free port: the bare baseline and allot itself. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/postgres-server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  /** Resident set size of the server process, in bytes. */
  rss(): number;
  stop(): Promise<void>;
}

export { freePort };

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) * 1024;
}

function track(child: ChildProcess, url: string): ServerProcess {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') process.stderr.write(`\nserver ${url} exited (${code ?? signal}):\n${stderr}\n`);
  });
  return {
    url,
    pid: child.pid!,
    rss: () => rssOf(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server ${url} exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server ${url} did not become ready`);
}

/** A reference server the benchmark compares allot with: `bench/baseline.ts` or `bench/floor.ts` (each prints its address once listening). */
export async function startReference(script: 'bench/baseline.ts' | 'bench/floor.ts'): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return track(child, url);
}

export interface AllotEnv {
  ALLOT_DB?: string;
  DATABASE_URL?: string;
  ALLOT_TEST_CLOCK?: string;
  ALLOT_MASTER_KEY: string;
  [name: string]: string | undefined;
}

/**
 * `node bin/allot.js serve` as a user would start it, logging warnings only,
 * background sweep off. `BENCH_SERVER_ARGS` go to node, to profile the
 * server under load (`BENCH_SERVER_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'`).
 */
export async function startAllot(env: AllotEnv): Promise<ServerProcess> {
  const port = await freePort();
  const nodeArgs = process.env.BENCH_SERVER_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, 'bin/allot.js', 'serve'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ALLOT_SWEEP_SECONDS: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child);
  return track(child, url);
}
