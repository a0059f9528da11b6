/**
 * Pricing reads the rates inside the event's own transaction. On SQLite a
 * batch of units shares one transaction, and the fact "no rate was ever
 * written" is remembered for it: a rate written by one unit must price the
 * units after it in the same batch. On PostgreSQL the same requests run in
 * transactions of their own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Scope } from '../../src/service/scope.ts';
import { putRate } from '../../src/service/models.ts';
import { recordUsage } from '../../src/service/usage.ts';
import type { SqliteDb } from '../../src/store/sqlite/db.ts';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot } from '../support/harness.ts';

for (const dialect of DIALECTS) {
  test(`${dialect}: a rate written in a batch prices the usage after it in that batch`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    const admin = Scope.admin('test');
    const event = (id: string) => recordUsage(allot.services, admin, { event_id: id, shop_id: 's', user_id: 'u', input_tokens: 10, model: 'm' });

    const stats = (allot.testDb.db as Partial<SqliteDb>).stats;
    const batches = stats?.batches ?? 0;
    // Started in one tick: SQLite runs them as one batch, in this order. Weights are in millionths here.
    const [b, s, a] = await Promise.all([
      event('before'), putRate(allot.services, admin, 'm', { input_weight: 3_000_000, output_weight: 1_000_000 }), event('after'),
    ]);
    assert.equal(s.created, true);
    if (dialect === 'sqlite') {
      assert.equal(stats!.batches - batches, 1, 'one batch');
      assert.equal(b.tokens, 10, 'before the rate: the plain sum');
      assert.equal(a.tokens, 30, 'after the rate, in the same batch: priced by it');
    } else {
      assert.ok(b.tokens === 10 || b.tokens === 30);
      assert.equal(b.weights === undefined, b.tokens === 10);
      assert.equal(a.weights === undefined, a.tokens === 10);
    }
    assert.equal(await event('later').then((r) => r.tokens), 30);
  });
}
