/**
 * `recordLiveUsage`, the one step of a recorded event: one statement on
 * PostgreSQL, three on SQLite, the same rows on both.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ShopId } from '../../src/service/scope.ts';
import { recordLiveUsage, type LiveUsageEvent } from '../../src/store/usage.ts';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot } from '../support/harness.ts';

const NOW = Date.parse('2026-03-01T10:00:00.000Z');
const DAY = '2026-03-01';

for (const dialect of DIALECTS) {
  test(`${dialect}: a live subscription takes the usage, the day's rollup and the event in one step; a stored event id changes the counters for the caller to undo`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    const created = await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' });
    assert.equal(created.status, 201);
    const event: LiveUsageEvent = {
      shop_id: 's' as ShopId, event_id: 'e1', user_id: 'u', tokens: 30, input_tokens: 10, output_tokens: 20, model: 'm', enforce: false,
      cached_input_tokens: 5, input_weight: null, cached_input_weight: null, output_weight: null,
    };
    const first = await allot.services.write(({ q }) => recordLiveUsage(q, dialect, event, NOW, DAY));
    assert.ok(first);
    assert.equal(first.stored, true);
    assert.equal(first.sub.id, created.body.id);
    assert.deepEqual([first.sub.used_tokens, first.sub.reserved_tokens, first.sub.queries], [30, 0, 1]);
    const allocated = first.sub.allocated_tokens;

    const q = allot.testDb.db;
    assert.deepEqual(await q.one(
      `SELECT subscription_id, user_id, tokens, input_tokens, output_tokens, model, enforce, reservation_id, period_start, day,
         created_at, request_hash, result FROM usage_events WHERE shop_id = ? AND event_id = ?`, ['s', 'e1']), {
      subscription_id: created.body.id, user_id: 'u', tokens: 30, input_tokens: 10, output_tokens: 20, model: 'm', enforce: 0,
      reservation_id: null, period_start: first.sub.current_period_start, day: DAY, created_at: NOW, request_hash: '',
      result: `[30,0,${allocated}]`,
    });
    assert.deepEqual(await q.all('SELECT day, tokens, queries FROM daily_usage WHERE subscription_id = ?', [created.body.id]),
      [{ day: DAY, tokens: 30, queries: 1 }]);

    // The same event id again: the counters and the rollup moved, the event did not; the caller's rollback undoes them.
    const undo = new Error('undo');
    let again: Awaited<ReturnType<typeof recordLiveUsage>>;
    await assert.rejects(allot.services.write(async ({ q: tx }) => {
      again = await recordLiveUsage(tx, dialect, { ...event, tokens: 5 }, NOW, DAY);
      throw undo;
    }), (error) => error === undo);
    assert.equal(again!?.stored, false);
    assert.equal(again!?.sub.used_tokens, 35);
    assert.deepEqual(await q.one('SELECT used_tokens, queries FROM subscriptions WHERE id = ?', [created.body.id]), { used_tokens: 30, queries: 1 });
    assert.deepEqual(await q.all('SELECT tokens, queries FROM daily_usage WHERE subscription_id = ?', [created.body.id]),
      [{ tokens: 30, queries: 1 }]);

    // Enforced usage that does not fit changes nothing and answers undefined (the caller then looks closer).
    const refused = await allot.services.write(({ q: tx }) =>
      recordLiveUsage(tx, dialect, { ...event, event_id: 'e2', tokens: allocated, enforce: true }, NOW, DAY));
    assert.equal(refused, undefined);
    assert.deepEqual(await q.one('SELECT COUNT(*) AS n FROM usage_events', []), { n: 1 });
    assert.deepEqual(await q.one('SELECT used_tokens FROM subscriptions WHERE id = ?', [created.body.id]), { used_tokens: 30 });
  });
}
