import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedFolder } from './shared-folder.ts';

/** A sharedFolder name of its own for one test, and the count of builds made for it. */
function fixture(t: { after(fn: () => Promise<void>): void }) {
  const name = `allot-test-shared-${randomBytes(4).toString('hex')}`;
  const built = { count: 0 };
  const build = async (staging: string) => {
    built.count++;
    await writeFile(join(staging, 'program'), 'run me\n', { mode: 0o755 });
    await writeFile(join(staging, 'data'), 'x'.repeat(1000));
  };
  t.after(async () => {
    for (const entry of await readdir(tmpdir())) {
      if (entry.startsWith(name)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
    }
  });
  return { name, built, build };
}

async function leftovers(name: string): Promise<string[]> {
  return (await readdir(tmpdir())).filter((entry) => entry.startsWith(name) && entry !== name);
}

test('shared folder: built once, then reused as it is', async (t) => {
  const { name, built, build } = fixture(t);
  const home = await sharedFolder(name, build);
  assert.equal(home, join(tmpdir(), name));
  assert.equal(await readFile(join(home, 'program'), 'utf8'), 'run me\n');
  assert.equal(await sharedFolder(name, build), home);
  assert.equal(built.count, 1);
  assert.deepEqual(await leftovers(name), []);
});

test('shared folder: processes that build it at once all get the complete one', async (t) => {
  const { name, build } = fixture(t);
  const homes = await Promise.all(Array.from({ length: 4 }, () => sharedFolder(name, build)));
  assert.deepEqual(new Set(homes), new Set([join(tmpdir(), name)]));
  assert.equal((await readFile(join(homes[0]!, 'data'), 'utf8')).length, 1000);
  assert.deepEqual(await leftovers(name), [], 'staging folders of the losers are removed');
});

test('shared folder: a file lost or changed in size makes it built again', async (t) => {
  const { name, built, build } = fixture(t);
  const home = await sharedFolder(name, build);
  await rm(join(home, 'program'));
  await sharedFolder(name, build);
  assert.equal(built.count, 2);
  assert.equal(await readFile(join(home, 'program'), 'utf8'), 'run me\n');
  await writeFile(join(home, 'data'), 'short');
  await sharedFolder(name, build);
  assert.equal(built.count, 3);
  assert.equal((await readFile(join(home, 'data'), 'utf8')).length, 1000);
});

test('shared folder: one that others could write to is not trusted', async (t) => {
  const { name, built, build } = fixture(t);
  const home = await sharedFolder(name, build);
  await chmod(home, 0o777);
  await sharedFolder(name, build);
  assert.equal(built.count, 2);
});

test('shared folder: a failed build leaves nothing behind and says why', async (t) => {
  const { name } = fixture(t);
  await assert.rejects(
    sharedFolder(name, async () => {
      throw new Error('archive is damaged');
    }),
    /archive is damaged/,
  );
  assert.deepEqual((await readdir(tmpdir())).filter((entry) => entry.startsWith(name)), []);
});
