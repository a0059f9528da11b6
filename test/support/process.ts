/**
 * Runs the real `allot` command as a child process, for CLI and server
 * tests: `runAllot` for one-shot commands, `serveAllot` for the server,
 * whose JSON log lines are collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestDbConfig } from './dialects.ts';

const bin = fileURLToPath(new URL('../../bin/allot.js', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment that points allot at a test database, and nothing else of the caller's allot settings. */
export function dbEnv(config: TestDbConfig, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('ALLOT_') || name === 'DATABASE_URL' || name === 'PORT') delete env[name];
  // The test runner's markers would make the child act as a test file.
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  if (config.dialect === 'sqlite') env.ALLOT_DB = config.sqlitePath!;
  else env.DATABASE_URL = config.databaseUrl!;
  return { ...env, ...extra };
}

export function runAllot(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface Served {
  url: string;
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Sends SIGTERM (once) and waits for the exit. */
  stop(): Promise<number | null>;
}

export function serveAllot(env: NodeJS.ProcessEnv): Promise<Served> {
  const child = spawn(process.execPath, [bin, 'serve'], { env: { PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'allot is serving') {
            let stopped: Promise<number | null> | undefined;
            resolve({
              url: String(entry.address),
              child,
              logs,
              exited,
              stop: () => {
                stopped ??= (child.kill('SIGTERM'), exited);
                return stopped;
              },
            });
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`allot serve exited (${code}) before serving:\n${stderr}`)));
  });
}
