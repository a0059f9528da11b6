/**
 * SQLite group commit: transactions that arrive together share one
 * BEGIN … COMMIT (one fsync), a failing one rolls back alone, and a COMMIT
 * that fails rejects every transaction of its batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fdatasync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseUnavailable, UniqueViolation } from '../../src/store/db.ts';
import { openSqlite, type SqliteDb } from '../../src/store/sqlite/db.ts';

async function freshDb(t: { after(fn: () => Promise<void>): void }): Promise<SqliteDb> {
  const dir = await mkdtemp(join(tmpdir(), 'allot-group-commit-'));
  const db = openSqlite(join(dir, 'allot.db'));
  t.after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  await db.run('CREATE TABLE ledger (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
  return db;
}

async function ids(db: SqliteDb): Promise<string[]> {
  return (await db.all<{ id: string }>('SELECT id FROM ledger ORDER BY id')).map((r) => r.id);
}

test('concurrent transactions commit together in fewer batches, each answered after the commit', async (t) => {
  const db = await freshDb(t);
  const before = { ...db.stats };
  const count = 300;
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', [`e${String(i).padStart(4, '0')}`, i]);
        const row = await tx.one<{ n: number }>('SELECT COUNT(*) AS n FROM ledger');
        return row!.n;
      }),
    ),
  );
  assert.equal(db.stats.transactions - before.transactions, count);
  const batches = db.stats.batches - before.batches;
  assert.ok(batches >= 1 && batches < count / 10, `${count} transactions took ${batches} batches`);
  // Each transaction saw the rows of the ones before it in the same batch: they ran one after another.
  assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i + 1));
  // Answered only after COMMIT: the reader connection, which sees committed data only, has every row.
  const total = await db.one<{ n: number; tokens: number }>('SELECT COUNT(*) AS n, SUM(tokens) AS tokens FROM ledger');
  assert.deepEqual(total, { n: count, tokens: (count * (count - 1)) / 2 });
  // synchronous=full (the default): answered after an fsync of the write-ahead log, far fewer than one per transaction.
  const syncs = db.stats.walSyncs - before.walSyncs;
  assert.ok(syncs >= 1 && syncs <= batches, `${batches} batches, ${syncs} WAL syncs`);
});

test('a failing transaction rolls back alone while its neighbours in the batch commit', async (t) => {
  const db = await freshDb(t);
  await db.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['taken', 1]);
  const before = db.stats.batches;
  const refused = new Error('quota exceeded');
  const outcomes = await Promise.allSettled([
    db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['a', 1])),
    db.transaction(async (tx) => {
      await tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['b', 2]);
      throw refused;
    }),
    db.transaction(async (tx) => {
      await tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['c', 3]);
      await tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['taken', 3]);
    }),
    db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['d', 4])),
  ]);
  assert.equal(db.stats.batches - before, 1, 'the four transactions shared one batch');
  assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
  assert.equal((outcomes[1] as PromiseRejectedResult).reason, refused);
  assert.ok((outcomes[2] as PromiseRejectedResult).reason instanceof UniqueViolation);
  // b and c are gone entirely, c's first insert included.
  assert.deepEqual(await ids(db), ['a', 'd', 'taken']);
});

test('a COMMIT that fails rejects every transaction of its batch, and the next batch works', async (t) => {
  const db = await freshDb(t);
  // A deferred foreign key is checked only at COMMIT: one bad row makes the shared COMMIT fail.
  await db.run('CREATE TABLE parent (id TEXT PRIMARY KEY)');
  await db.run('CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
  const before = db.stats.batches;
  const outcomes = await Promise.allSettled([
    db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['a', 1])),
    db.transaction(async (tx) => tx.run('INSERT INTO child (id, parent_id) VALUES (?, ?)', ['orphan', 'missing'])),
    db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['c', 3])),
  ]);
  assert.equal(db.stats.batches - before, 1);
  assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
  assert.deepEqual(await ids(db), []);
  assert.equal(await db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['after', 1])), 1);
  assert.deepEqual(await ids(db), ['after']);
});

test('work queued while a batch runs is committed in a later batch, in arrival order', async (t) => {
  const db = await freshDb(t);
  const order: string[] = [];
  const first = db.transaction(async (tx) => {
    await tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['first', 1]);
    order.push('first');
    // Arrives while the batch of `first` is running.
    later = db.transaction(async (inner) => {
      order.push('later');
      return inner.one<{ n: number }>('SELECT COUNT(*) AS n FROM ledger');
    });
  });
  let later: Promise<{ n: number } | undefined> | undefined;
  await first;
  assert.deepEqual(await later, { n: 1 });
  assert.deepEqual(order, ['first', 'later']);
});

test('work that arrives while the WAL is being synced waits, then runs as one batch', async (t) => {
  const db = await freshDb(t);
  // Whether two arrivals land during one sync depends on the machine's timing: try a few rounds.
  for (let round = 0; round < 10; round++) {
    let syncsAtCommit = -1;
    let batchesBefore = -1;
    const arrivals: Array<{ syncsDone: number; done: Promise<number> }> = [];
    const arrive = (i: number) => {
      const id = `r${round}-late${i}`;
      arrivals.push({ syncsDone: db.stats.walSyncs, done: db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', [id, i])) });
      // One arrival per turn of the event loop: without waiting, each would run as a batch of its own.
      if (i < 4) setImmediate(() => arrive(i + 1));
    };
    await db.transaction(async (tx) => {
      await tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', [`r${round}-first`, 1]);
      syncsAtCommit = db.stats.walSyncs;
      batchesBefore = db.stats.batches;
      setImmediate(() => arrive(1));
    });
    while (arrivals.length < 4) await new Promise((r) => setImmediate(r));
    await Promise.all(arrivals.map((a) => a.done));
    const duringSync = arrivals.filter((a) => a.syncsDone === syncsAtCommit).length;
    if (duringSync < 2) continue;
    // Every arrival during the sync ran in the first batch after it.
    const batches = db.stats.batches - batchesBefore;
    assert.ok(batches <= 1 + (arrivals.length - duringSync), `${duringSync} arrived during the sync, ${batches} batches`);
    assert.equal((await ids(db)).filter((id) => id.startsWith(`r${round}-`)).length, 5);
    return;
  }
  t.skip('in ten rounds the first sync always ended before a second arrival');
});

test('a batch SQLite abandons mid-way (a full disk) fails as a whole with 503, and the next batch works', { timeout: 30_000 }, async (t) => {
  const db = await freshDb(t);
  await db.run('CREATE TABLE blobs (id TEXT PRIMARY KEY, body BLOB NOT NULL)');
  const pages = (await db.one<{ page_count: number }>('PRAGMA page_count'))!.page_count;
  // A database that may not grow by more than a few pages: the large row fills it, and SQLite rolls the whole transaction back.
  await db.run(`PRAGMA max_page_count = ${pages + 4}`);
  const before = db.stats.batches;
  const outcomes = await Promise.allSettled([
    db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['a', 1])),
    db.transaction(async (tx) => tx.run('INSERT INTO blobs (id, body) VALUES (?, ?)', ['big', Buffer.alloc(1 << 20)])),
    db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['c', 3])),
  ]);
  assert.equal(db.stats.batches - before, 1);
  assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
  for (const o of outcomes) assert.ok(o.status === 'rejected' && o.reason instanceof DatabaseUnavailable, String((o as PromiseRejectedResult).reason));
  assert.deepEqual(await ids(db), [], 'nothing of the abandoned batch was committed, not even after it');
  assert.equal(await db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['after', 1])), 1);
  assert.deepEqual(await ids(db), ['after']);
});

test('a failed sync of the write-ahead log is fatal: nothing more is answered until a restart recovers', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'allot-group-commit-'));
  const path = join(dir, 'allot.db');
  t.after(() => rm(dir, { recursive: true, force: true }));
  let failNext = false;
  const db = openSqlite(path, {
    fdatasync: (fd, done) => {
      if (!failNext) return fdatasync(fd, done);
      failNext = false;
      setImmediate(() => done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
    },
  });
  await db.run('CREATE TABLE ledger (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
  const insert = (id: string) => db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', [id, 1]));
  assert.equal(await insert('a'), 1);

  failNext = true;
  await assert.rejects(insert('b'), DatabaseUnavailable);
  // The next sync would succeed, but it could not vouch for the pages the failed one lost.
  await assert.rejects(insert('c'), /restart allot/);
  await assert.rejects(db.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['d', 1]), DatabaseUnavailable);
  await assert.rejects(db.all('SELECT id FROM ledger'), DatabaseUnavailable);
  await assert.rejects(db.ping(), DatabaseUnavailable);
  await db.close();

  const restarted = openSqlite(path);
  t.after(() => restarted.close());
  const rows = (await restarted.all<{ id: string }>('SELECT id FROM ledger ORDER BY id')).map((r) => r.id);
  assert.ok(rows.includes('a') && !rows.includes('c') && !rows.includes('d'), rows.join());
  assert.equal(await restarted.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', ['e', 1])), 1);
});

test('batches committed while a failing sync ran are answered with the failure too, never left waiting', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'allot-group-commit-'));
  let fail = false;
  // maxBatch 2: a full queue runs a batch while the sync is still going.
  const db = openSqlite(join(dir, 'allot.db'), {
    maxBatch: 2,
    fdatasync: (fd, done) => {
      if (!fail) return fdatasync(fd, done);
      fail = false; // only this sync fails: one after it would report success without the lost pages
      setTimeout(() => done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })), 200);
    },
  });
  t.after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  await db.run('CREATE TABLE ledger (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
  fail = true;
  const insert = (id: string) => db.transaction(async (tx) => tx.run('INSERT INTO ledger (id, tokens) VALUES (?, ?)', [id, 1]));
  const first = insert('a');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const during = [insert('b'), insert('c'), db.all('SELECT id FROM ledger')];
  const outcomes = await Promise.allSettled([first, ...during]);
  assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected', 'rejected']);
  assert.ok(db.stats.batches >= 3, 'a batch committed while the failing sync ran');
});
