/**
 * Real allot server processes for tests: `node bin/allot.js serve` as a child
 * process with its own environment, on a port picked here (a server started
 * with PORT=0 does not report its port reliably), ready once /healthz answers.
 * Each process keeps the tail of its stdout and stderr for failure messages;
 * ALLOT_TEST_SERVER_LOGS=1 also echoes them to the test's stderr.
 *
 * @example
 * const [a, b] = await Promise.all([
 *   startServerProcess({ databaseUrl }),
 *   startServerProcess({ databaseUrl }),
 * ]);
 * t.after(() => Promise.all([a.stop(), b.stop()]));
 * const res = await a.api('POST', '/v1/plans', plan);
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Dialect } from '../../src/store/db.ts';
import { openTestDb, type TestDb } from './dialects.ts';
import { freePort } from './postgres-server.ts';
import { MASTER_KEY, type ApiResponse, type CallOptions } from './harness.ts';

export { MASTER_KEY };

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/allot.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
/** A request that takes longer than this is a hang, and fails the test instead of stalling it. */
export const REQUEST_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_LINES = 200;

export interface ServerProcessOptions {
  /** PostgreSQL database; without it the server uses SQLite at `sqlitePath`. */
  databaseUrl?: string;
  sqlitePath?: string;
  /** ALLOT_TEST_CLOCK: the instant the server's clock starts frozen at. */
  clock?: string;
  /** ALLOT_SWEEP_SECONDS; 0 (no background sweep) unless given. */
  sweepSeconds?: number;
  /** More environment, applied last. */
  env?: Record<string, string>;
}

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Whether the process is still running. */
  readonly alive: boolean;
  api<T = any>(method: string, path: string, body?: unknown, options?: CallOptions & { timeoutMs?: number }): Promise<ApiResponse<T>>;
  /** Moves this server's test clock (each process has its own). */
  setClock(instant: string): Promise<void>;
  /** The last lines the process wrote, to explain a failure. */
  output(): string;
  /** SIGTERM (drains in-flight requests), then SIGKILL if it does not exit in time. */
  stop(): Promise<void>;
  /** SIGKILL: no draining, no cleanup. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts one server process and resolves once it answers /healthz. */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await launch(port, options);
    } catch (error) {
      // Another process may have taken the port between probe and listen.
      if (attempt < 3 && error instanceof PortTaken) continue;
      throw error;
    }
  }
}

class PortTaken extends Error {}

function childEnv(options: ServerProcessOptions, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The test runner's markers would make a child node process act as a test file.
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  delete env.DATABASE_URL;
  delete env.ALLOT_DB;
  delete env.ALLOT_TEST_CLOCK;
  Object.assign(env, {
    ALLOT_MASTER_KEY: MASTER_KEY,
    LOG_LEVEL: 'warn',
    ALLOT_SWEEP_SECONDS: String(options.sweepSeconds ?? 0),
    ...extra,
  });
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  if (options.sqlitePath) env.ALLOT_DB = options.sqlitePath;
  if (options.clock) env.ALLOT_TEST_CLOCK = options.clock;
  Object.assign(env, options.env);
  return env;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A failed, timed-out or interrupted test must not leave servers behind.
  const killAll = (): void => {
    for (const child of running) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Signal again: the default action (or another listener) ends the process as before.
      process.kill(process.pid, signal);
    });
  }
}

async function launch(port: number, options: ServerProcessOptions): Promise<ServerProcess> {
  installExitHook();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env: childEnv(options, { HOST: '127.0.0.1', PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const echo = process.env.ALLOT_TEST_SERVER_LOGS === '1';
  const remember = (chunk: Buffer): void => {
    if (echo) process.stderr.write(`[allot:${port}] ${chunk.toString('utf8')}`);
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > OUTPUT_LINES) lines.shift();
    }
  };
  child.stdout!.on('data', remember);
  child.stderr!.on('data', remember);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const output = (): string => `--- allot serve (pid ${child.pid}, port ${port}) ---\n${lines.join('\n')}`;
  const url = `http://127.0.0.1:${port}`;

  const started = Date.now();
  for (;;) {
    if (!alive) {
      const { code, signal } = await exited;
      const text = output();
      if (text.includes('EADDRINUSE')) throw new PortTaken(text);
      throw new Error(`allot serve exited before it was ready (code ${code}, signal ${signal})\n${text}`);
    }
    if (Date.now() - started > READY_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`allot serve did not answer /healthz within ${READY_TIMEOUT_MS} ms\n${output()}`);
    }
    const healthy = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })
      .then((res) => res.ok)
      .catch(() => false);
    if (healthy) break;
    await sleep(50);
  }

  const api = async <T>(
    method: string,
    path: string,
    body?: unknown,
    call: CallOptions & { timeoutMs?: number } = {},
  ): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...call.headers };
    const key = call.key === undefined ? MASTER_KEY : call.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let payload: string | undefined = call.raw;
    if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const timeoutMs = call.timeoutMs ?? REQUEST_TIMEOUT_MS;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${url}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : String(error);
      throw new Error(`${method} ${url}${path}: ${reason}\n${output()}`, { cause: error });
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (!alive) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  return {
    url,
    port,
    pid: child.pid!,
    get alive() {
      return alive;
    },
    api,
    async setClock(instant: string) {
      const res = await api('PUT', '/v1/test-clock', { now: instant });
      if (res.status !== 200) throw new Error(`test clock on ${url}: ${res.status} ${JSON.stringify(res.body)}`);
    },
    output,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
  };
}

export interface Cluster {
  servers: ServerProcess[];
  /** PostgreSQL: a handle on the servers' database, to check state behind their backs. */
  testDb?: TestDb;
  /** The settings the servers run with, to start more on the same database. */
  options: ServerProcessOptions;
}

/**
 * `count` server processes on one fresh, empty database, stopped and removed
 * when the test ends. Several processes on one SQLite file is not a supported
 * deployment: SQLite clusters have a single server.
 */
export async function startCluster(
  t: { after(fn: () => Promise<void>): void },
  dialect: Dialect,
  count: number,
  settings: Omit<ServerProcessOptions, 'databaseUrl' | 'sqlitePath'> = {},
): Promise<Cluster> {
  if (dialect === 'sqlite' && count !== 1) throw new Error('one SQLite file serves one allot process');
  let testDb: TestDb | undefined;
  let dir: string | undefined;
  let options: ServerProcessOptions;
  if (dialect === 'postgres') {
    testDb = await openTestDb('postgres');
    options = { ...settings, databaseUrl: testDb.config.databaseUrl! };
  } else {
    dir = await mkdtemp(join(tmpdir(), 'allot-proc-'));
    options = { ...settings, sqlitePath: join(dir, 'allot.db') };
  }
  const servers: ServerProcess[] = [];
  t.after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await testDb?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  await Promise.all(
    Array.from({ length: count }, async () => {
      servers.push(await startServerProcess(options));
    }),
  );
  return { servers, testDb, options };
}

/**
 * One cluster for every test of a `describe` block, started before the first
 * and stopped after the last: call it inside `describe`. Tests sharing it use
 * their own users.
 */
export function clusterForSuite(
  dialect: Dialect,
  count: number,
  settings: Omit<ServerProcessOptions, 'databaseUrl' | 'sqlitePath'> = {},
): () => Cluster {
  let cluster: Cluster | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  before(async () => {
    cluster = await startCluster({ after: (fn) => void cleanups.push(fn) }, dialect, count, settings);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return () => {
    if (!cluster) throw new Error('the cluster did not start');
    return cluster;
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `allot <args>` to completion, e.g. `runCli(['migrate'], { databaseUrl })`. */
export function runCli(args: string[], options: ServerProcessOptions = {}): Promise<CliResult> {
  installExitHook();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(options, {}), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export { freePort };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
