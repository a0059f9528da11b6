/**
 * The PostgreSQL adapter on a real server: what it hides from the store
 * (placeholders, number parsing, retries, error mapping) and how it behaves
 * while the server is away.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { DatabaseUnavailable, UniqueViolation, type Db, type Migration } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres/db.ts';
import { openTestDb } from '../support/dialects.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../support/postgres-server.ts';

async function freshDb(t: { after(fn: () => Promise<void>): void }): Promise<{ db: Db; url: string }> {
  const { db, config, cleanup } = await openTestDb('postgres');
  t.after(cleanup);
  assert.ok(config.databaseUrl);
  return { db, url: config.databaseUrl };
}

async function rawQuery(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('postgres adapter: queries', () => {
  test('? placeholders are numbered in order, and run answers the rows changed', async (t) => {
    const { db } = await freshDb(t);
    await db.run('CREATE TABLE allowance (id TEXT PRIMARY KEY, tokens BIGINT NOT NULL, period TEXT NOT NULL)');
    assert.equal(await db.run('INSERT INTO allowance (id, tokens, period) VALUES (?, ?, ?)', ['a', 10, '2025-01']), 1);
    assert.equal(await db.run('INSERT INTO allowance (id, tokens, period) VALUES (?, ?, ?)', ['b', 20, '2025-01']), 1);
    assert.deepEqual(
      await db.one('SELECT ?::text AS first, ?::int AS second, ?::text AS third', ['x', 2, 'z']),
      { first: 'x', second: 2, third: 'z' },
    );
    assert.equal(await db.run('UPDATE allowance SET tokens = tokens + ? WHERE period = ?', [5, '2025-01']), 2);
    assert.deepEqual(await db.all('SELECT id, tokens FROM allowance WHERE tokens > ? ORDER BY id', [12]), [
      { id: 'a', tokens: 15 },
      { id: 'b', tokens: 25 },
    ]);
    assert.equal(await db.one('SELECT id FROM allowance WHERE id = ?', ['missing']), undefined);
    assert.equal(db.dialect, 'postgres');
    assert.equal(db.forUpdate, ' FOR UPDATE');
    assert.deepEqual(await db.all(`SELECT id FROM allowance WHERE id = ?${db.forUpdate}`, ['a']), [{ id: 'a' }]);
  });

  test('BIGINT, COUNT and SUM come back as numbers, without touching pg global parsers', async (t) => {
    const { db, url } = await freshDb(t);
    await db.run('CREATE TABLE usage (tokens BIGINT NOT NULL)');
    const big = 2 ** 40 + 1;
    await db.run('INSERT INTO usage (tokens) VALUES (?), (?)', [big, 7]);
    const row = await db.one<{ n: unknown; total: unknown; biggest: unknown; average: unknown }>(
      'SELECT COUNT(*) AS n, SUM(tokens) AS total, MAX(tokens) AS biggest, AVG(tokens) AS average FROM usage',
    );
    assert.deepEqual(row, { n: 2, total: big + 7, biggest: big, average: (big + 7) / 2 });
    // Another pg user in the same process still sees pg's default (string) parsing.
    const raw = await rawQuery(url, 'SELECT 5::bigint AS n');
    assert.equal(raw.rows[0].n, '5');
  });

  test('a transaction commits its work and answers its result', async (t) => {
    const { db } = await freshDb(t);
    await db.run('CREATE TABLE reservation (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
    const result = await db.transaction(async (tx) => {
      await tx.run('INSERT INTO reservation (id, tokens) VALUES (?, ?)', ['r1', 100]);
      await tx.run('UPDATE reservation SET tokens = tokens - ? WHERE id = ?', [40, 'r1']);
      return tx.one<{ tokens: number }>('SELECT tokens FROM reservation WHERE id = ?', ['r1']);
    });
    assert.deepEqual(result, { tokens: 60 });
    assert.deepEqual(await db.all('SELECT id, tokens FROM reservation'), [{ id: 'r1', tokens: 60 }]);
  });

  test('a failing transaction rolls back and rethrows the error unchanged', async (t) => {
    const { db } = await freshDb(t);
    await db.run('CREATE TABLE reservation (id TEXT PRIMARY KEY)');
    const failure = new Error('work failed');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO reservation (id) VALUES (?)', ['r1']);
        throw failure;
      }),
      (error) => error === failure,
    );
    assert.deepEqual(await db.all('SELECT id FROM reservation'), []);
  });

  test('a unique violation is raised as UniqueViolation, in and out of transactions', async (t) => {
    const { db } = await freshDb(t);
    await db.run('CREATE TABLE plan (code TEXT PRIMARY KEY)');
    await db.run('INSERT INTO plan (code) VALUES (?)', ['pro']);
    await assert.rejects(db.run('INSERT INTO plan (code) VALUES (?)', ['pro']), UniqueViolation);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO plan (code) VALUES (?)', ['team']);
        await tx.run('INSERT INTO plan (code) VALUES (?)', ['pro']);
      }),
      UniqueViolation,
    );
    assert.deepEqual(await db.all('SELECT code FROM plan'), [{ code: 'pro' }]);
  });

  test('other database errors pass through unchanged', async (t) => {
    const { db } = await freshDb(t);
    await assert.rejects(db.all('SELECT * FROM no_such_table'), (error: unknown) => {
      assert.ok(!(error instanceof UniqueViolation) && !(error instanceof DatabaseUnavailable));
      assert.equal((error as { code?: string }).code, '42P01');
      return true;
    });
  });
});

describe('postgres adapter: transaction retries', () => {
  test('a serialization failure retries the whole transaction', async (t) => {
    const { db } = await freshDb(t);
    await db.run('CREATE TABLE attempt (n INTEGER NOT NULL)');
    let attempts = 0;
    await db.transaction(async (tx) => {
      attempts += 1;
      await tx.run('INSERT INTO attempt (n) VALUES (?)', [attempts]);
      if (attempts === 1) {
        await tx.run(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`);
      }
    });
    assert.equal(attempts, 2);
    assert.deepEqual(await db.all('SELECT n FROM attempt'), [{ n: 2 }]);
  });

  test('a real deadlock between two servers is resolved: both transactions commit', async (t) => {
    const { db, url } = await freshDb(t);
    // Two Db objects are two servers: a batch waits only for its own work, so the deadlock must span two.
    const other = await openPostgres(url);
    t.after(() => other.close());
    await db.run('CREATE TABLE allowance (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
    await db.run(`INSERT INTO allowance (id, tokens) VALUES ('a', 0), ('b', 0)`);
    // Each transaction locks one row, waits until the other holds its row, then wants it.
    let holdA!: () => void;
    let holdB!: () => void;
    const heldA = new Promise<void>((resolve) => (holdA = resolve));
    const heldB = new Promise<void>((resolve) => (holdB = resolve));
    let attempts = 0;
    const move = (on: Db, first: string, second: string, held: () => void, waitFor: Promise<void>) =>
      on.transaction(async (tx) => {
        attempts += 1;
        await tx.run('UPDATE allowance SET tokens = tokens + 1 WHERE id = ?', [first]);
        held();
        await waitFor;
        await tx.run('UPDATE allowance SET tokens = tokens + 1 WHERE id = ?', [second]);
      });
    await Promise.all([move(db, 'a', 'b', holdA, heldB), move(other, 'b', 'a', holdB, heldA)]);
    assert.ok(attempts >= 3, `one of the two ran again (${attempts} attempts)`);
    assert.deepEqual(await db.all('SELECT id, tokens FROM allowance ORDER BY id'), [
      { id: 'a', tokens: 2 },
      { id: 'b', tokens: 2 },
    ]);
  });

  test('retries stop after five attempts and raise the last failure', async (t) => {
    const { db } = await freshDb(t);
    let attempts = 0;
    await assert.rejects(
      db.transaction(async (tx) => {
        attempts += 1;
        await tx.run(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`);
      }),
      (error: unknown) => (error as { code?: string }).code === '40001',
    );
    assert.equal(attempts, 5);
  });

  test('many transactions on a small pool do not leak connections', async (t) => {
    const { url } = await freshDb(t);
    const db = await openPostgres(url, { poolSize: 2 });
    t.after(() => db.close());
    await db.run('CREATE TABLE counter (n INTEGER NOT NULL)');
    await db.run('INSERT INTO counter (n) VALUES (0)');
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        db
          .transaction(async (tx) => {
            await tx.run('UPDATE counter SET n = n + 1');
            if (i % 4 === 0) throw new Error('rolled back on purpose');
          })
          .catch(() => {}),
      ),
    );
    assert.deepEqual(await db.one('SELECT n FROM counter'), { n: 30 });
  });
});

describe('postgres adapter: group commit', () => {
  test('concurrent transactions commit together in fewer batches, each answered after the commit', async (t) => {
    const { url } = await freshDb(t);
    const db = await openPostgres(url, { batches: 1 });
    t.after(() => db.close());
    await db.run('CREATE TABLE event (id INTEGER PRIMARY KEY)');
    const before = { ...db.stats };
    const committed = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      db.transaction((tx) => tx.run('INSERT INTO event (id) VALUES (?)', [i])).then(async () =>
        // Seen by another connection as soon as the caller is answered.
        Number((await rawQuery(url, `SELECT COUNT(*) AS n FROM event WHERE id = ${i}`)).rows[0].n))));
    assert.deepEqual(committed, Array.from({ length: 40 }, () => 1));
    assert.equal(db.stats.transactions - before.transactions, 40);
    assert.ok(db.stats.batches - before.batches < 40, `${db.stats.batches - before.batches} batches for 40 transactions`);
  });

  for (const savepoints of ['always', 'after-failure'] as const) test(`savepoints ${savepoints}: a failing transaction rolls back alone while its neighbours in the batch commit, the first of the batch too`, async (t) => {
    const { url } = await freshDb(t);
    const db = await openPostgres(url, { batches: 1, savepoints });
    t.after(() => db.close());
    await db.run('CREATE TABLE plan (code TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
    await db.run(`INSERT INTO plan (code, tokens) VALUES ('pro', 0)`);
    const before = db.stats.batches;
    const thrown = new Error('refused');
    const results = await Promise.allSettled([
      // The first of the batch fails after a write: the whole, still empty, transaction rolls back.
      db.transaction(async (tx) => {
        await tx.run(`INSERT INTO plan (code, tokens) VALUES ('first', 1)`);
        throw thrown;
      }),
      db.transaction((tx) => tx.run(`INSERT INTO plan (code, tokens) VALUES ('a', 1)`)),
      // A statement fails inside the batch: only its savepoint rolls back.
      db.transaction(async (tx) => {
        await tx.run(`UPDATE plan SET tokens = 100 WHERE code = 'pro'`);
        await tx.run(`INSERT INTO plan (code, tokens) VALUES ('pro', 2)`);
      }),
      db.transaction(async (tx) => {
        await tx.run(`INSERT INTO plan (code, tokens) VALUES ('b', 1)`);
        throw thrown;
      }),
      db.transaction((tx) => tx.one<{ n: number }>(`SELECT COUNT(*) AS n FROM plan`)),
    ]);
    // Without savepoints the batch runs once more, with them, when a member other than the first fails.
    assert.equal(db.stats.batches - before, savepoints === 'always' ? 1 : 2);
    assert.equal(db.stats.replays, savepoints === 'always' ? 0 : 1);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
    assert.equal((results[0] as PromiseRejectedResult).reason, thrown);
    assert.ok((results[2] as PromiseRejectedResult).reason instanceof UniqueViolation);
    assert.deepEqual((results[4] as PromiseFulfilledResult<unknown>).value, { n: 2 });
    assert.deepEqual(await db.all('SELECT code, tokens FROM plan ORDER BY code'), [
      { code: 'a', tokens: 1 },
      { code: 'pro', tokens: 0 },
    ]);
  });

  test('a COMMIT that fails rejects every transaction of its batch, and the next batch works', async (t) => {
    const { url } = await freshDb(t);
    const db = await openPostgres(url, { batches: 1 });
    t.after(() => db.close());
    // Checked at COMMIT: two members of one batch each pass alone, and together fail.
    await db.run('CREATE TABLE seat (n INTEGER NOT NULL, CONSTRAINT one_seat UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)');
    const results = await Promise.allSettled([
      db.transaction((tx) => tx.run('INSERT INTO seat (n) VALUES (1)')),
      db.transaction((tx) => tx.run('INSERT INTO seat (n) VALUES (1)')),
      db.transaction((tx) => tx.run('INSERT INTO seat (n) VALUES (2)')),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    for (const r of results) assert.ok((r as PromiseRejectedResult).reason instanceof UniqueViolation);
    assert.deepEqual(await db.all('SELECT n FROM seat'), []);
    assert.equal(await db.transaction((tx) => tx.run('INSERT INTO seat (n) VALUES (3)')), 1);
    assert.deepEqual(await db.all('SELECT n FROM seat'), [{ n: 3 }]);
  });

  test('what a batch remembers is forgotten when a member rolls back, and never outlives the batch', async (t) => {
    const { url } = await freshDb(t);
    // With a savepoint for every member, each runs once and the rollback is the member's alone.
    const db = await openPostgres(url, { batches: 1, savepoints: 'always' });
    t.after(() => db.close());
    const seen: Array<unknown> = [];
    await Promise.allSettled([
      db.transaction(async (tx) => {
        tx.memo?.set('fact', 1);
        seen.push(tx.memo?.get('fact'));
      }),
      db.transaction(async (tx) => {
        seen.push(tx.memo?.get('fact'));
        tx.memo?.set('other', 2);
        throw new Error('rolled back');
      }),
      db.transaction(async (tx) => {
        seen.push(tx.memo?.get('fact'), tx.memo?.get('other'));
      }),
    ]);
    await db.transaction(async (tx) => {
      seen.push(tx.memo?.get('other'));
    });
    assert.deepEqual(seen, [1, 1, undefined, undefined, undefined]);
  });

  test('batches on two servers that lock the same rows in opposite orders all commit, without waiting for deadlock detection', async (t) => {
    const { url } = await freshDb(t);
    const one = await openPostgres(url, { batches: 2 });
    const two = await openPostgres(url, { batches: 2 });
    t.after(async () => {
      await one.close();
      await two.close();
    });
    await one.run('CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
    await one.run('INSERT INTO counter (id, n) SELECT g, 0 FROM generate_series(0, 9) AS g');
    // Each transaction increments two rows; neighbours in a batch touch rows in random orders.
    const bump = (db: Db, a: number, b: number) => db.transaction(async (tx) => {
      await tx.run('UPDATE counter SET n = n + 1 WHERE id = ?', [a]);
      await tx.run('UPDATE counter SET n = n + 1 WHERE id = ?', [b]);
    });
    const pairs = Array.from({ length: 300 }, (_, i) => [(i * 7) % 10, (i * 3 + 1) % 10] as const).filter(([a, b]) => a !== b);
    await Promise.all(pairs.map(([a, b], i) => bump(i % 2 === 0 ? one : two, a, b)));
    const total = await one.one<{ n: number }>('SELECT SUM(n) AS n FROM counter');
    assert.deepEqual(total, { n: pairs.length * 2 });
  });
});

describe('postgres adapter: migrations', () => {
  const migrations: Migration[] = [
    {
      id: '001_plans',
      sql: () => `
        CREATE TABLE plan (code TEXT PRIMARY KEY, tokens BIGINT NOT NULL);
        CREATE INDEX plan_tokens ON plan (tokens);
        INSERT INTO plan (code, tokens) VALUES ('free', 1000)`,
    },
    { id: '002_subscriptions', sql: (dialect) => `CREATE TABLE subscription_${dialect} (id TEXT PRIMARY KEY)` },
  ];

  test('applies each migration once, in order, and reports what it applied', async (t) => {
    const { db } = await freshDb(t);
    assert.deepEqual(await db.migrate(migrations.slice(0, 1)), ['001_plans']);
    assert.deepEqual(await db.migrate(migrations), ['002_subscriptions']);
    assert.deepEqual(await db.migrate(migrations), []);
    assert.deepEqual(await db.all('SELECT code, tokens FROM plan'), [{ code: 'free', tokens: 1000 }]);
    assert.deepEqual(await db.all('SELECT id FROM subscription_postgres'), []);
    const recorded = await db.all<{ id: string; applied_at: number }>(
      'SELECT id, applied_at FROM allot_migrations ORDER BY id',
    );
    assert.deepEqual(recorded.map((row) => row.id), ['001_plans', '002_subscriptions']);
    assert.equal(typeof recorded[0]?.applied_at, 'number');
  });

  test('two servers migrating at once apply each migration exactly once', async (t) => {
    const { db, url } = await freshDb(t);
    const other = await openPostgres(url);
    t.after(() => other.close());
    const [first, second] = await Promise.all([db.migrate(migrations), other.migrate(migrations)]);
    assert.deepEqual([...first, ...second].sort(), ['001_plans', '002_subscriptions']);
    assert.ok(first.length === 0 || second.length === 0, 'one server applied everything under the lock');
    assert.deepEqual(await db.one('SELECT COUNT(*) AS n FROM plan'), { n: 1 });
    assert.deepEqual(await db.one('SELECT COUNT(*) AS n FROM allot_migrations'), { n: 2 });
  });

  test('a failing migration leaves nothing behind and is not recorded', async (t) => {
    const { db } = await freshDb(t);
    const broken: Migration = { id: '003_broken', sql: () => 'CREATE TABLE half (id TEXT); SELECT * FROM nowhere' };
    await assert.rejects(db.migrate([...migrations, broken]), (error: unknown) => (error as { code?: string }).code === '42P01');
    assert.deepEqual(await db.all('SELECT id FROM allot_migrations ORDER BY id'), [
      { id: '001_plans' },
      { id: '002_subscriptions' },
    ]);
    assert.equal(await db.one(`SELECT to_regclass('half') AS t`).then((row) => row?.t), null);
  });
});

describe('postgres adapter: the server goes away and comes back', () => {
  let server: EmbeddedPostgresServer;
  let db: Db;

  before(async () => {
    server = await startEmbeddedPostgres();
    await rawQuery(server.url, 'CREATE DATABASE outage');
    const url = new URL(server.url);
    url.pathname = '/outage';
    db = await openPostgres(url.toString(), { poolSize: 3 });
    await db.run('CREATE TABLE allowance (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL)');
    await db.run(`INSERT INTO allowance (id, tokens) VALUES ('a', 10)`);
  });

  after(async () => {
    await db?.close();
    await server?.destroy();
  });

  async function assertUnavailable(operation: Promise<unknown>): Promise<void> {
    const started = Date.now();
    await assert.rejects(operation, DatabaseUnavailable);
    assert.ok(Date.now() - started < 5_000, `failed fast (${Date.now() - started} ms)`);
  }

  test('while stopped, every operation rejects with DatabaseUnavailable instead of hanging', async () => {
    // Warm the pool so idle connections die with the server.
    await Promise.all([db.ping(), db.one('SELECT 1'), db.all('SELECT 2')]);
    await server.stop();
    await assertUnavailable(db.ping());
    await assertUnavailable(db.one('SELECT tokens FROM allowance WHERE id = ?', ['a']));
    await assertUnavailable(db.run('UPDATE allowance SET tokens = tokens - 1'));
    await assertUnavailable(db.transaction((tx) => tx.all('SELECT * FROM allowance')));
    await assertUnavailable(db.migrate([]));
  });

  test('after a restart the same Db works again, without reopening', async () => {
    await server.start();
    await db.ping();
    assert.deepEqual(await db.one('SELECT tokens FROM allowance WHERE id = ?', ['a']), { tokens: 10 });
    assert.equal(await db.transaction((tx) => tx.run('UPDATE allowance SET tokens = tokens - 1')), 1);
    assert.deepEqual(await db.one('SELECT tokens FROM allowance'), { tokens: 9 });
  });

  test('a transaction open when the server stops fails as DatabaseUnavailable and changes nothing', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.run('UPDATE allowance SET tokens = 0');
        // The checked-out connection dies between two statements.
        await server.stop();
        await tx.run('UPDATE allowance SET tokens = 1');
      }),
      DatabaseUnavailable,
    );
    await server.start();
    assert.deepEqual(await db.one('SELECT tokens FROM allowance'), { tokens: 9 });
  });
});
