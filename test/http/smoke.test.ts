import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot } from '../support/harness.ts';

for (const dialect of DIALECTS) {
  test(`${dialect}: a subscription meters usage and reports status`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const put = await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.action_performed, 'create');
    assert.equal(put.body.current_period_end, '2026-02-28T12:00:00.000Z');
    const usage = await allot.api('POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 1500 });
    assert.equal(usage.status, 200, JSON.stringify(usage.body));
    assert.equal(usage.body.used_tokens, 1500);
    const again = await allot.api('POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 1500 });
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.used_tokens, 1500);
    const status = await allot.api('GET', '/v1/subscriptions/shop1/u1/status?include_history=true');
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal(status.body.current_usage, 1500);
    await allot.setClock('2026-03-01T00:00:00.000Z');
    const periods = await allot.api('GET', '/v1/subscriptions/shop1/u1/periods');
    assert.equal(periods.status, 200, JSON.stringify(periods.body));
    assert.equal(periods.body.data.length, 1);
    assert.equal(periods.body.data[0].used_tokens, 1500);
    const sub = await allot.api('GET', '/v1/subscriptions/shop1/u1');
    assert.equal(sub.body.used_tokens, 0);
    assert.equal(sub.body.current_period_start, '2026-02-28T12:00:00.000Z');
    assert.equal(sub.body.current_period_end, '2026-03-31T12:00:00.000Z');
  });
}
