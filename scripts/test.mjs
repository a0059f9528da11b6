#!/usr/bin/env node
/**
 * `npm test`: runs every test/**\/*.test.ts file on Node's test runner, with
 * one embedded PostgreSQL for the whole run (unless ALLOT_TEST_DATABASE_URL
 * already names a server).
 *
 *   npm test                       every test file
 *   npm test -- test/http test/store/usage.test.ts
 *                                  only files under these path prefixes
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const prefixes = process.argv.slice(2).map((arg) => arg.replace(/^\.\//, '').replace(/\/$/, ''));
const files = (await testFiles('test')).filter(
  (file) => prefixes.length === 0 || prefixes.some((prefix) => file === prefix || file.startsWith(`${prefix}/`)),
);
if (files.length === 0) {
  console.error(`no test files match ${prefixes.join(' ')}`);
  process.exit(1);
}

let server;
if (!process.env.ALLOT_TEST_DATABASE_URL) {
  const { tsImport } = await import('tsx/esm/api');
  const { startEmbeddedPostgres } = await tsImport('../test/support/postgres-server.ts', import.meta.url);
  const started = Date.now();
  server = await startEmbeddedPostgres();
  process.env.ALLOT_TEST_DATABASE_URL = server.url;
  console.log(`# embedded PostgreSQL on port ${server.port} (${Date.now() - started} ms)`);
}

const runner = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { stdio: 'inherit' },
);
// Pass signals on and wait for the runner to finish before stopping PostgreSQL.
process.on('SIGINT', () => runner.kill('SIGINT'));
process.on('SIGTERM', () => runner.kill('SIGTERM'));

const code = await new Promise((resolve) => {
  runner.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});
await server?.destroy();
process.exit(code);

async function testFiles(dir) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.test.ts')) {
      found.push(relative(root, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join('/'));
    }
  }
  return found.sort();
}
