/**
 * Idempotency-Key rows in the store, on both dialects: a key is claimed and
 * answered in one transaction, so one whose transaction rolls back leaves no
 * row; claims an older allot left in flight are forgotten by migration 0005.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestClock } from '../../src/domain/clock.ts';
import { RetryUnit, Services } from '../../src/service/context.ts';
import type { Queryable } from '../../src/store/db.ts';
import { migrateDatabase, migrations } from '../../src/store/migrations.ts';
import { DIALECTS, openTestDb } from '../support/dialects.ts';

const NOW = Date.parse('2026-01-31T12:00:00.000Z');

function addPlan(q: Queryable, id: string): Promise<number> {
  return q.run(
    `INSERT INTO plans (id, display_name, allocated_tokens, price_minor, currency, billing_cycle, allowance_interval, tier, created_at)
     VALUES (?, ?, 1, 1, 'USD', 'monthly', 'month', 1, 0)`,
    [id, id],
  );
}

for (const dialect of DIALECTS) {
  test(`${dialect}: migration 0005 forgets the claims an older allot left in flight, and keeps the answers`, async (t) => {
    const { db, cleanup } = await openTestDb(dialect);
    t.after(cleanup);
    const before = migrations.findIndex((m) => m.id === '0005_unanswered_keys_forgotten');
    assert.ok(before > 0);
    await db.migrate(migrations.slice(0, before));
    await db.run(`INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) VALUES ('admin', 'cut-off', 'h1', 'in_flight', ?)`, [NOW]);
    await db.run(
      `INSERT INTO idempotency_keys (scope, key, request_hash, state, status_code, response, created_at) VALUES ('admin', 'answered', 'h2', 'done', 201, '{}', ?)`,
      [NOW],
    );
    await migrateDatabase(db);
    assert.deepEqual(await db.all('SELECT key, state FROM idempotency_keys ORDER BY key'), [{ key: 'answered', state: 'done' }]);
  });

  test(`${dialect}: inOneTransaction commits every unit together or none; a lost race re-runs only its unit`, async (t) => {
    const { db, cleanup } = await openTestDb(dialect);
    t.after(cleanup);
    await migrateDatabase(db);
    const services = new Services(db, new TestClock(NOW));
    const plans = async () => (await db.all<{ id: string }>('SELECT id FROM plans ORDER BY id')).map((p) => p.id);

    await assert.rejects(services.inOneTransaction(async (inTransaction) => {
      await inTransaction.write(({ q }) => addPlan(q, 'a'));
      await inTransaction.write(async () => {
        throw new Error('the second unit fails');
      });
    }), /the second unit fails/);
    assert.deepEqual(await plans(), [], 'the first unit rolled back with the second');

    let attempts = 0;
    let outerRuns = 0;
    await services.inOneTransaction(async (inTransaction) => {
      outerRuns++;
      await inTransaction.write(({ q }) => addPlan(q, 'b'));
      await inTransaction.write(async ({ q }) => {
        attempts++;
        await addPlan(q, `c${attempts}`);
        if (attempts === 1) throw new RetryUnit('lost a race');
      });
      assert.deepEqual((await inTransaction.read(({ q }) => q.all<{ id: string }>('SELECT id FROM plans ORDER BY id'))).map((p) => p.id), ['b', 'c2'],
        'a read inside sees the transaction\'s own writes, not the undone attempt');
    });
    assert.equal(outerRuns, 1, 'only the unit that lost its race ran again');
    assert.deepEqual(await plans(), ['b', 'c2']);
  });
}
