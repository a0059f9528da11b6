/**
 * A folder under the temp dir that test processes build once and then share
 * (unpacked PostgreSQL or Chromium binaries). It is built in a staging folder
 * beside it and renamed into place, so no process sees a half-made one; two
 * processes that build it at once both succeed, and one's copy is kept. A
 * folder that is incomplete (a temp cleaner took files) or not safely ours
 * (another user's, or writable by others) is replaced.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lchown, lstat, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MANIFEST = '.allot-manifest.json';

/** Path and size of each file (-1 for a symbolic link) the folder was built with. */
type Manifest = Array<[string, number]>;

/**
 * The folder `name` under the temp dir, built by `build` if it is not there
 * complete. `build` fills the (empty) staging folder it is given, that will
 * be renamed to `home`. What it made is then ours alone to change.
 */
export async function sharedFolder(
  name: string,
  build: (staging: string, home: string) => Promise<void>,
): Promise<string> {
  const home = join(tmpdir(), name);
  if (await isComplete(home)) return home;
  await discard(home);
  const staging = await mkdtemp(`${home}.partial-`);
  try {
    await build(staging, home);
    await makeOurs(staging);
    await writeFile(join(staging, MANIFEST), JSON.stringify(await manifestOf(staging)));
    await chmod(staging, 0o755);
    await rename(staging, home);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Losing the race to a process that built the same folder is fine.
    if (!(await isComplete(home))) throw error;
  }
  return home;
}

/** Unpacked archives may carry other owners and modes: owned by us, writable by nobody else. */
async function makeOurs(dir: string): Promise<void> {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    const info = await lstat(path);
    if (uid !== undefined && gid !== undefined && (info.uid !== uid || info.gid !== gid)) await lchown(path, uid, gid);
    if (!info.isSymbolicLink() && (info.mode & 0o022) !== 0) await chmod(path, info.mode & 0o7777 & ~0o022);
  }
}

async function manifestOf(dir: string): Promise<Manifest> {
  const manifest: Manifest = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const info = await lstat(join(dir, entry));
    if (info.isFile()) manifest.push([entry, info.size]);
    else if (info.isSymbolicLink()) manifest.push([entry, -1]);
  }
  return manifest;
}

async function isComplete(home: string): Promise<boolean> {
  const top = await lstat(home).catch(() => undefined);
  if (!top?.isDirectory() || top.uid !== process.getuid?.() || (top.mode & 0o022) !== 0) return false;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(home, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return false;
  }
  for (const [entry, size] of manifest) {
    const info = await lstat(join(home, entry)).catch(() => undefined);
    if (info === undefined) return false;
    if (size === -1 ? !info.isSymbolicLink() : !info.isFile() || info.size !== size) return false;
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
