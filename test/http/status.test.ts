/**
 * GET …/status and …/usage/daily over HTTP, with the test clock moving
 * across days and into the next period: every field of SPEC §7, with the
 * arithmetic written next to each expectation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, seedPlans, startAllot, type Allot } from '../support/harness.ts';

const STATUS = '/v1/subscriptions/shop1/u1/status';

function usageOf(allot: Allot) {
  let n = 0;
  return async (tokens: number, user = 'u1') => {
    const res = await allot.api('POST', '/v1/usage', { event_id: `ev-${user}-${++n}`, shop_id: 'shop1', user_id: user, tokens });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };
}

async function status(allot: Allot, query = '?include_history=true') {
  const res = await allot.api('GET', `${STATUS}${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

const codes = (items: Array<{ code: string }>) => items.map((i) => i.code);

for (const dialect of DIALECTS) {
  test(`${dialect}: status follows usage across days, thresholds and into the next period`, async (t) => {
    // Period 0: 2026-01-31T12:00Z → 2026-02-28T12:00Z (basic: 100 000 tokens).
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const use = usageOf(allot);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);

    await t.test('first day, nothing used', async () => {
      const s = await status(allot);
      assert.deepEqual(s, {
        id: s.id, shop_id: 'shop1', user_id: 'u1', plan_id: 'basic', plan_display_name: 'Basic', status: 'active',
        billing_cycle: 'monthly', allowance_interval: 'month', allocated_tokens: 100_000, price_minor: 999, currency: 'USD',
        started_at: '2026-01-31T12:00:00.000Z', current_period_start: '2026-01-31T12:00:00.000Z',
        current_period_end: '2026-02-28T12:00:00.000Z', next_billing_date: '2026-02-28T12:00:00.000Z',
        cancel_at_period_end: false, canceled_at: null, pending_plan_id: null,
        used_tokens: 0, reserved_tokens: 0, remaining_tokens: 100_000, usage_percentage: 0,
        subscription_id: s.id, current_usage: 0, days_remaining_in_period: 28, next_billing_amount_minor: 999, next_billing_currency: 'USD',
        avg_daily_usage: 0, projected_usage: 0, projected_exhaustion_date: null, usage_trend: 'stable',
        alerts: [], recommendations: [],
        usage_history: { daily: [{ date: '2026-01-31', tokens: 0, queries: 0 }], total_queries: 0, avg_tokens_per_query: 0, peak_daily_usage: 0 },
        plan_history: [],
        usage_by_model: [],
      });
      assert.match(s.id, /^sub_/);
      assert.equal(s.subscription_id, s.id);
      assert.equal(s.plan_id, 'basic');
      assert.equal(s.current_usage, 0);
      assert.equal(s.remaining_tokens, 100_000);
      assert.equal(s.usage_percentage, 0);
      assert.equal(s.days_remaining_in_period, 28); // 02-28T12:00 − 01-31T12:00 = 28 d
      assert.equal(s.next_billing_date, '2026-02-28T12:00:00.000Z');
      assert.equal(s.next_billing_amount_minor, 999);
      assert.equal(s.avg_daily_usage, 0); // d = 1: 0 / 1
      assert.equal(s.projected_usage, 0);
      assert.equal(s.projected_exhaustion_date, null); // avg 0
      assert.equal(s.usage_trend, 'stable');
      assert.deepEqual(s.alerts, []);
      assert.deepEqual(s.recommendations, []);
      assert.deepEqual(s.usage_history, { daily: [{ date: '2026-01-31', tokens: 0, queries: 0 }], total_queries: 0, avg_tokens_per_query: 0, peak_daily_usage: 0 });
      assert.deepEqual(s.plan_history, []);
    });

    await t.test('a week of usage with a hold', async () => {
      await allot.setClock('2026-01-31T13:00:00.000Z');
      await use(3000);
      await use(1000);
      await allot.setClock('2026-02-01T10:00:00.000Z');
      await use(6000);
      // 02-02: nothing
      await allot.setClock('2026-02-03T09:00:00.000Z');
      await use(4000);
      await allot.setClock('2026-02-04T09:00:00.000Z');
      await use(8000);
      await allot.setClock('2026-02-05T09:00:00.000Z');
      await use(9000);
      await allot.setClock('2026-02-06T20:00:00.000Z');
      await use(7000);
      await use(5000);
      const hold = await allot.api('POST', '/v1/reservations', { shop_id: 'shop1', user_id: 'u1', tokens: 2000, ttl_seconds: 3600 });
      assert.equal(hold.status, 201, JSON.stringify(hold.body));

      const s = await status(allot);
      // used 4000 + 6000 + 4000 + 8000 + 9000 + 12000 = 43 000 in 8 queries
      assert.equal(s.current_usage, 43_000);
      assert.equal(s.used_tokens, 43_000);
      assert.equal(s.reserved_tokens, 2000);
      assert.equal(s.remaining_tokens, 55_000); // 100 000 − 43 000 − 2000
      assert.equal(s.usage_percentage, 43);
      assert.equal(s.days_remaining_in_period, 21); // 02-28T12:00 − 02-06T20:00 = 21 d 16 h
      assert.equal(s.avg_daily_usage, 6142.86); // d = 7 (01-31 … 02-06): 43 000 / 7 = 6142.857…
      assert.equal(s.projected_usage, 172_000); // round(43 000 + 6142.86 · 21) = round(172 000.06)
      assert.equal(s.projected_exhaustion_date, '2026-02-15'); // ceil(55 000 / 6142.86) = ceil(8.95) = 9 days after 02-06
      assert.equal(s.usage_trend, 'increasing'); // 02-04…06: 29 000 vs 02-01…03: 10 000 > 1.1×
      assert.deepEqual(s.alerts, []); // 43 % < 50 %, 21 days left
      assert.deepEqual(codes(s.recommendations), ['upgrade', 'usage_increasing', 'high_tokens_per_query']);
      // projected 172 000 > 90 % of 100 000; Pro 400 000 / 100 000 = 4
      assert.deepEqual(s.recommendations[0], { code: 'upgrade', message: 'Consider upgrading to Pro for 4x more tokens', plan_id: 'pro' });
      assert.match(s.recommendations[2].message, /5375 tokens per query/); // 43 000 / 8
      assert.deepEqual(s.usage_history, {
        daily: [
          { date: '2026-01-31', tokens: 4000, queries: 2 },
          { date: '2026-02-01', tokens: 6000, queries: 1 },
          { date: '2026-02-02', tokens: 0, queries: 0 },
          { date: '2026-02-03', tokens: 4000, queries: 1 },
          { date: '2026-02-04', tokens: 8000, queries: 1 },
          { date: '2026-02-05', tokens: 9000, queries: 1 },
          { date: '2026-02-06', tokens: 12000, queries: 2 },
        ],
        total_queries: 8,
        avg_tokens_per_query: 5375,
        peak_daily_usage: 12000,
      });

      const lean = await status(allot, '');
      assert.equal('usage_history' in lean, false);
      assert.equal('plan_history' in lean, false);
      assert.equal(lean.avg_daily_usage, 6142.86);
    });

    await t.test('critical usage near the period end, suspended, then canceling', async () => {
      await allot.setClock('2026-02-26T08:00:00.000Z');
      await use(50_000);
      let s = await status(allot);
      // the hold expired (1 h): used 93 000, reserved 0
      assert.equal(s.reserved_tokens, 0);
      assert.equal(s.remaining_tokens, 7000);
      assert.equal(s.usage_percentage, 93);
      assert.equal(s.days_remaining_in_period, 2); // 02-28T12:00 − 02-26T08:00 = 2 d 4 h
      assert.equal(s.avg_daily_usage, 7142.86); // 02-20…02-26: 50 000 / 7
      assert.equal(s.projected_usage, 107_286); // round(93 000 + 7142.86 · 2) = round(107 285.72)
      assert.equal(s.projected_exhaustion_date, '2026-02-27'); // ceil(7000 / 7142.86) = 1 day
      assert.equal(s.usage_trend, 'increasing'); // 50 000 vs 0
      assert.deepEqual(s.alerts, [
        { type: 'error', code: 'usage_critical', message: "Critical: 93% of this period's tokens used", action: 'Consider upgrading' },
        { type: 'info', code: 'renewal_soon', message: 'Subscription renews in 2 days', action: 'Ensure your payment method is up to date' },
      ]);
      assert.deepEqual(codes(s.recommendations), ['upgrade', 'usage_increasing', 'high_tokens_per_query']);
      assert.equal(s.usage_history.avg_tokens_per_query, 10333.33); // 93 000 / 9
      assert.equal(s.usage_history.peak_daily_usage, 50_000);
      assert.equal(s.usage_history.daily.length, 27); // 01-31 … 02-26

      assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/suspend')).status, 200);
      s = await status(allot);
      assert.equal(s.status, 'suspended');
      assert.deepEqual(codes(s.alerts), ['usage_critical', 'renewal_soon', 'subscription_suspended']);
      assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/resume')).status, 200);

      assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/cancel', { at_period_end: true })).status, 200);
      s = await status(allot);
      assert.deepEqual(codes(s.alerts), ['usage_critical', 'ends_soon']);
      assert.equal(s.alerts[1].message, 'Subscription ends in 2 days');
      // the same plan again keeps the subscription: no longer canceling
      assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 200);
      assert.deepEqual(codes((await status(allot)).alerts), ['usage_critical', 'renewal_soon']);
    });

    await t.test('usage above the allowance', async () => {
      await use(20_000);
      const s = await status(allot);
      assert.equal(s.current_usage, 113_000);
      assert.equal(s.usage_percentage, 113); // may exceed 100
      assert.equal(s.remaining_tokens, 0);
      assert.equal(s.avg_daily_usage, 10_000); // 70 000 / 7
      assert.equal(s.projected_usage, 133_000); // 113 000 + 10 000 · 2
      assert.equal(s.projected_exhaustion_date, '2026-02-26'); // nothing remains: today
      assert.equal(s.alerts[0].code, 'limit_reached');
      assert.equal(s.alerts[0].type, 'error');
      assert.equal(s.usage_history.peak_daily_usage, 70_000);
    });

    await t.test('the next period starts empty and the closed one is summarised', async () => {
      await allot.setClock('2026-03-01T12:00:00.000Z');
      const s = await status(allot);
      assert.equal(s.current_period_start, '2026-02-28T12:00:00.000Z');
      assert.equal(s.current_period_end, '2026-03-31T12:00:00.000Z');
      assert.equal(s.next_billing_date, '2026-03-31T12:00:00.000Z');
      assert.equal(s.current_usage, 0);
      assert.equal(s.remaining_tokens, 100_000);
      assert.equal(s.days_remaining_in_period, 30);
      assert.equal(s.avg_daily_usage, 0); // d = 2 (02-28, 03-01), no usage in this period
      assert.equal(s.projected_exhaustion_date, null);
      assert.deepEqual(s.alerts, []);
      assert.deepEqual(s.recommendations, []);
      // 02-28 before 12:00 belonged to the previous period
      assert.deepEqual(s.usage_history.daily, [
        { date: '2026-02-28', tokens: 0, queries: 0 },
        { date: '2026-03-01', tokens: 0, queries: 0 },
      ]);
      const periods = await allot.api('GET', '/v1/subscriptions/shop1/u1/periods');
      assert.deepEqual(periods.body.data, [
        {
          subscription_id: s.id, period_start: '2026-01-31T12:00:00.000Z', period_end: '2026-02-28T12:00:00.000Z',
          plan_id: 'basic', allocated_tokens: 100_000, used_tokens: 113_000, queries: 10, peak_daily_tokens: 70_000,
        },
      ]);
    });

    await t.test('an upgrade shows in plan_history', async () => {
      await use(1000);
      const put = await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'pro' });
      assert.equal(put.body.action_performed, 'upgrade');
      const s = await status(allot);
      assert.equal(s.allocated_tokens, 400_000);
      assert.equal(s.next_billing_amount_minor, 2999);
      assert.equal(s.remaining_tokens, 399_000);
      assert.deepEqual(s.plan_history, [
        { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: '2026-01-31T12:00:00.000Z', end_date: '2026-03-01T12:00:00.000Z', change_reason: 'upgrade' },
      ]);
    });

    await t.test('the daily series for charts spans periods, zero-filled', async () => {
      const res = await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily?from=2026-02-25&to=2026-03-02');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.data, [
        { date: '2026-02-25', tokens: 0, queries: 0 },
        { date: '2026-02-26', tokens: 70_000, queries: 2 },
        { date: '2026-02-27', tokens: 0, queries: 0 },
        { date: '2026-02-28', tokens: 0, queries: 0 },
        { date: '2026-03-01', tokens: 1000, queries: 1 },
        { date: '2026-03-02', tokens: 0, queries: 0 },
      ]);
      const current = await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily');
      assert.deepEqual(current.body.data.map((p: { date: string }) => p.date), ['2026-02-28', '2026-03-01']);
      assert.equal((await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily?from=2026-03-02&to=2026-03-01')).status, 400);
      assert.equal((await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily?from=2026-02-30')).status, 400);
      assert.equal((await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily?from=2020-01-01&to=2026-03-01')).status, 400);
    });
  });

  test(`${dialect}: at 56 % with the tokens running out before the period ends, the alert and the advice agree`, async (t) => {
    // Period 0: 2026-01-31T12:00Z → 2026-02-28T12:00Z (basic: 100 000 tokens); 8000 a day for 7 days.
    const allot = await startAllot(dialect, { clock: '2026-01-31T13:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const use = usageOf(allot);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);
    for (const date of ['01-31', '02-01', '02-02', '02-03', '02-04', '02-05', '02-06']) {
      await allot.setClock(`2026-${date}T13:00:00.000Z`);
      await use(8000);
    }
    const s = await status(allot, '');
    assert.equal(s.usage_percentage, 56);
    assert.equal(s.projected_exhaustion_date, '2026-02-12'); // 02-06 + ceil(44 000 / 8000) = 6 days
    assert.deepEqual(s.alerts, [{
      type: 'info', code: 'usage_moderate', message: "Moderate usage: 56% of this period's tokens used",
      action: 'At this pace the tokens run out on 2026-02-12, before the period ends: consider upgrading to Pro',
    }]);
    assert.deepEqual(s.recommendations[0], { code: 'upgrade', message: 'Consider upgrading to Pro for 4x more tokens', plan_id: 'pro' });
  });

  test(`${dialect}: the next bill charges the plan that will apply then, and nothing when the subscription ends first`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-05-10T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const euro = { id: 'basic-eur', display_name: 'Basic (EUR)', allocated_tokens: 100_000, price_minor: 899, currency: 'EUR', billing_cycle: 'monthly', tier: 1 };
    assert.equal((await allot.api('POST', '/v1/plans', euro)).status, 201);
    const bill = async () => {
      const s = (await allot.api('GET', '/v1/subscriptions/shop1/u1/status')).body;
      return [s.next_billing_amount_minor, s.next_billing_currency];
    };
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'pro' })).status, 201);
    assert.deepEqual(await bill(), [2999, 'USD']);
    const scheduled = await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic', when: 'period_end' });
    assert.equal(scheduled.body.pending_plan_id, 'basic');
    assert.deepEqual(await bill(), [999, 'USD'], 'the downgrade applies at the period end, before the next bill');
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic-eur', when: 'period_end' })).status, 200);
    assert.deepEqual(await bill(), [899, 'EUR'], 'in the currency of the plan that will bill');
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/cancel', { at_period_end: true })).status, 200);
    assert.deepEqual(await bill(), [0, 'USD'], 'it ends before the next bill');
  });

  test(`${dialect}: status with an allowance of 0, bad input and other shops`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-05-10T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const free = { id: 'free', display_name: 'Free', allocated_tokens: 0, price_minor: 0, currency: 'USD', billing_cycle: 'monthly', tier: 0 };
    assert.equal((await allot.api('POST', '/v1/plans', free)).status, 201);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'free' })).status, 201);
    await usageOf(allot)(100);

    const s = await status(allot);
    assert.equal(s.usage_percentage, 0); // no division by 0
    assert.equal(s.remaining_tokens, 0);
    assert.equal(s.avg_daily_usage, 100); // d = 1
    assert.equal(s.projected_exhaustion_date, '2026-05-10'); // nothing remains: today
    assert.equal(s.alerts[0].code, 'limit_reached');
    assert.deepEqual(s.recommendations, [{ code: 'upgrade', message: 'Consider upgrading to Basic for more tokens', plan_id: 'basic' }]);

    const before = JSON.stringify(await status(allot));
    const bad = await allot.api('GET', `${STATUS}?include_history=maybe`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'validation_error');
    assert.equal(bad.body.errors[0].path, 'include_history');
    assert.equal(JSON.stringify(await status(allot)), before);

    for (const path of ['status', 'usage/daily']) {
      const missing = await allot.api('GET', `/v1/subscriptions/shop1/nobody/${path}`);
      assert.equal(missing.status, 404, path);
      assert.equal(missing.body.code, 'subscription_not_found');
    }
    const otherShop = await createShopKey(allot, 'shop2');
    const hidden = await allot.api('GET', STATUS, undefined, { key: otherShop });
    assert.equal(hidden.status, 404);
    assert.equal(hidden.body.code, 'subscription_not_found');
    const ownShop = await createShopKey(allot, 'shop1');
    assert.equal((await allot.api('GET', STATUS, undefined, { key: ownShop })).status, 200);
    const hiddenDaily = await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily', undefined, { key: otherShop });
    assert.equal(hiddenDaily.status, 404);
  });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a canceled subscription's status is its final period, as it closed`, async (t) => {
    // basic: 100 000 tokens; period 0 from 2026-01-31T12:00Z.
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const use = usageOf(allot);
    const first = await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' });
    assert.equal(first.status, 201);
    await allot.setClock('2026-02-01T10:00:00.000Z');
    await use(30_000);
    await allot.setClock('2026-02-02T10:00:00.000Z');
    await use(20_000);
    await allot.setClock('2026-02-03T10:00:00.000Z');
    const hold = await allot.api('POST', '/v1/reservations', { shop_id: 'shop1', user_id: 'u1', tokens: 5000 });
    assert.equal(hold.status, 201, JSON.stringify(hold.body));
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/cancel', { at_period_end: false })).status, 200);

    const canceled = await status(allot, '');
    assert.deepEqual(canceled, {
      id: first.body.id, shop_id: 'shop1', user_id: 'u1', plan_id: 'basic', plan_display_name: 'Basic', status: 'canceled',
      billing_cycle: 'monthly', allowance_interval: 'month', allocated_tokens: 100_000, price_minor: 999, currency: 'USD',
      started_at: '2026-01-31T12:00:00.000Z',
      // canceled now: the final period ended then
      current_period_start: '2026-01-31T12:00:00.000Z', current_period_end: '2026-02-03T10:00:00.000Z',
      next_billing_date: null, cancel_at_period_end: false, canceled_at: '2026-02-03T10:00:00.000Z', pending_plan_id: null,
      used_tokens: 50_000, reserved_tokens: 0, remaining_tokens: 50_000, usage_percentage: 50, // the hold ended with it
      subscription_id: first.body.id, current_usage: 50_000,
      days_remaining_in_period: 0,
      next_billing_amount_minor: 0, // nothing is billed next
      next_billing_currency: 'USD',
      avg_daily_usage: 12_500, // d = 4 (01-31 … 02-03): 50 000 / 4
      projected_usage: 50_000, // 50 000 + 12 500 · 0
      projected_exhaustion_date: null,
      usage_trend: 'stable', // d < 6
      alerts: [{ type: 'info', code: 'usage_moderate', message: "Moderate usage: 50% of this period's tokens used", action: 'Usage is on track' }],
      recommendations: [{ code: 'high_tokens_per_query', message: 'Average of 25000 tokens per query is high - consider shorter prompts or responses' }],
      usage_by_model: [],
    });
    const subscription = (await allot.api('GET', '/v1/subscriptions/shop1/u1')).body;
    assert.deepEqual([subscription.current_period_end, subscription.used_tokens], ['2026-02-03T10:00:00.000Z', 50_000], 'the subscription agrees');
    const withHistory = await status(allot);
    assert.deepEqual(withHistory.usage_history.daily.map((p: { date: string; tokens: number }) => [p.date, p.tokens]), [
      ['2026-01-31', 0], ['2026-02-01', 30_000], ['2026-02-02', 20_000], ['2026-02-03', 0],
    ]);
    assert.deepEqual(withHistory.plan_history, []);

    await allot.setClock('2026-03-10T00:00:00.000Z');
    assert.deepEqual(await status(allot, ''), canceled, 'a canceled subscription no longer changes with time');

    // A later PUT starts a new subscription: status follows the live one again.
    const again = await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'pro' });
    assert.equal(again.status, 201);
    await use(1000);
    const live = await status(allot, '');
    assert.equal(live.subscription_id, again.body.id);
    assert.equal(live.status, 'active');
    assert.equal(live.current_usage, 1000);
    assert.equal(live.current_period_start, '2026-03-10T00:00:00.000Z');
    assert.equal(live.days_remaining_in_period, 31);
    assert.equal(live.next_billing_amount_minor, 2999);
  });

  test(`${dialect}: status of a subscription canceled at period end keeps the final period's usage`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const sub = await allot.api('PUT', '/v1/subscriptions/shop1/u2', { plan_id: 'basic' });
    assert.equal(sub.status, 201);
    await allot.setClock('2026-02-26T08:00:00.000Z');
    await usageOf(allot)(93_000, 'u2');
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u2/cancel')).status, 200);
    await allot.setClock('2026-03-10T00:00:00.000Z');

    const res = await allot.api('GET', '/v1/subscriptions/shop1/u2/status?include_history=true');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = res.body;
    assert.equal(s.subscription_id, sub.body.id);
    assert.equal(s.status, 'canceled');
    assert.equal(s.canceled_at, '2026-02-28T12:00:00.000Z');
    assert.equal(s.cancel_at_period_end, true);
    assert.equal(s.current_period_start, '2026-01-31T12:00:00.000Z');
    assert.equal(s.current_period_end, '2026-02-28T12:00:00.000Z');
    assert.equal(s.used_tokens, 93_000);
    assert.equal(s.current_usage, 93_000);
    assert.equal(s.remaining_tokens, 7000);
    assert.equal(s.usage_percentage, 93);
    assert.equal(s.days_remaining_in_period, 0);
    assert.equal(s.next_billing_date, null);
    assert.equal(s.next_billing_amount_minor, 0);
    assert.equal(s.avg_daily_usage, 13_285.71); // 02-22 … 02-28: 93 000 / 7
    assert.equal(s.projected_usage, 93_000);
    assert.equal(s.projected_exhaustion_date, null); // ceil(7000 / 13 285.71) = 1 day after 02-28: past the end
    assert.equal(s.usage_trend, 'increasing');
    assert.deepEqual(codes(s.alerts), ['usage_critical'], 'no renewal alert: it has ended');
    assert.equal(s.usage_history.daily.length, 29); // 01-31 … 02-28
    assert.equal(s.usage_history.total_queries, 1);
    assert.equal(s.usage_history.peak_daily_usage, 93_000);
    const ended = (await allot.api('GET', '/v1/subscriptions/shop1/u2')).body;
    assert.equal(ended.used_tokens, 93_000, 'the subscription keeps its final counters, as canceling at once does');
    assert.equal(ended.current_period_end, '2026-02-28T12:00:00.000Z');
  });

  test(`${dialect}: by default usage/daily of a subscription canceled long ago shows its final days`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);
    await allot.setClock('2026-02-01T10:00:00.000Z');
    await usageOf(allot)(1000);
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/cancel', { at_period_end: false })).status, 200);
    await allot.setClock('2029-06-01T00:00:00.000Z');
    const ended = await allot.api('GET', '/v1/subscriptions/shop1/u1/usage/daily');
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    assert.deepEqual([ended.body.from, ended.body.to], ['2026-01-31', '2026-02-01']);
    assert.deepEqual(ended.body.data.map((p: { tokens: number }) => p.tokens), [0, 1000]);

    // Canceled in the instant it began (a frozen clock), with a hold committed two days after: its days still read.
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u2', { plan_id: 'basic' })).status, 201);
    const held = await allot.api('POST', '/v1/reservations', { shop_id: 'shop1', user_id: 'u2', tokens: 100, ttl_seconds: 3600 });
    assert.equal(held.status, 201);
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u2/cancel', { at_period_end: false })).status, 200);
    const at = await allot.api('GET', '/v1/subscriptions/shop1/u2/usage/daily');
    assert.equal(at.status, 200, JSON.stringify(at.body));
    assert.deepEqual([at.body.from, at.body.to], ['2029-06-01', '2029-06-01']);
    await allot.setClock('2029-06-03T00:00:00.000Z');
    assert.equal((await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 70 })).status, 200);
    const late = await allot.api('GET', '/v1/subscriptions/shop1/u2/usage/daily');
    assert.deepEqual([late.body.from, late.body.to], ['2029-06-01', '2029-06-03']);
    assert.deepEqual(late.body.data.map((p: { tokens: number }) => p.tokens), [0, 0, 70], 'the late commit is in the series');
  });

  test(`${dialect}: usage/daily covers the subscription the path names, not the user's earlier ones`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const use = usageOf(allot);
    const DAILY = '/v1/subscriptions/shop1/u1/usage/daily';
    const series = async (query = '') => {
      const res = await allot.api('GET', `${DAILY}${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);
    await allot.setClock('2026-02-01T10:00:00.000Z');
    await use(1000);
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u1/cancel', { at_period_end: false })).status, 200);
    assert.deepEqual((await series('?from=2026-02-01&to=2026-02-01')).data, [{ date: '2026-02-01', tokens: 1000, queries: 1 }], 'the latest canceled one reads');

    await allot.setClock('2026-02-01T14:00:00.000Z');
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'pro' })).status, 201);
    await use(500);
    await allot.setClock('2026-02-02T09:00:00.000Z');
    await use(200);

    assert.deepEqual((await series('?from=2026-01-31&to=2026-02-02')).data, [
      { date: '2026-01-31', tokens: 0, queries: 0 },
      { date: '2026-02-01', tokens: 500, queries: 1 }, // not the canceled subscription's 1000
      { date: '2026-02-02', tokens: 200, queries: 1 },
    ]);
    const current = await series();
    assert.equal(current.from, '2026-02-01'); // the live subscription's period start
    assert.equal(current.to, '2026-02-02');
    assert.deepEqual(current.data.map((p: { tokens: number }) => p.tokens), [500, 200]);
    const s = await status(allot);
    assert.deepEqual(s.usage_history.daily.map((p: { tokens: number }) => p.tokens), [500, 200], 'status and the series agree');
  });
}
