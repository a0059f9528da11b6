/**
 * Metering decided on a subscription read earlier must not land on it once it
 * ended: on PostgreSQL a cancel can commit between the read and the write.
 * The write is guarded on the status it was decided from, so the usage is
 * refused, while a hold's spent tokens still count on the ended subscription.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ShopId } from '../../src/service/scope.ts';
import { meter } from '../../src/service/usage.ts';
import { findLiveSubscription } from '../../src/store/subscriptions.ts';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot } from '../support/harness.ts';

for (const dialect of DIALECTS) {
  test(`${dialect}: usage decided before a cancel is refused after it; spent tokens still count`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    const before = await allot.services.read(({ q }) => findLiveSubscription(q, 's' as ShopId, 'u'));
    assert.ok(before);
    assert.equal((await allot.api('POST', '/v1/subscriptions/s/u/cancel', { at_period_end: false })).status, 200);

    for (const metering of ['record', 'enforce'] as const) {
      await assert.rejects(allot.services.write((unit) => meter(unit, before, 5, metering)), { code: 'subscription_not_found' });
    }
    const canceled = await allot.api('GET', '/v1/subscriptions/s/u');
    assert.equal(canceled.body.status, 'canceled');
    assert.equal(canceled.body.used_tokens, 0, 'nothing was counted on the canceled subscription');

    const spent = await allot.services.write((unit) => meter(unit, before, 5, 'spent'));
    assert.equal(spent.sub.status, 'canceled');
    assert.equal(spent.counters.used_tokens, 5);
  });
}
