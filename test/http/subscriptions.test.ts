/**
 * Subscriptions and periods (SPEC §4, §5): create/change with every action,
 * scheduled changes, cancel, suspend, calendar-correct rollover with one
 * summary per missed period; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, plans, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

const ANCHOR = '2026-01-31T12:00:00.000Z';

function put(allot: Allot, shop: string, user: string, body: Record<string, unknown>, key?: string) {
  return allot.api('PUT', `/v1/subscriptions/${shop}/${user}`, body, { key });
}

async function use(allot: Allot, shop: string, user: string, eventId: string, tokens: number) {
  const res = await allot.api('POST', '/v1/usage', { event_id: eventId, shop_id: shop, user_id: user, tokens });
  assertStatus(res, 200);
  return res.body;
}

async function planHistory(allot: Allot, shop: string, user: string) {
  const res = await allot.api('GET', `/v1/subscriptions/${shop}/${user}/status?include_history=true`);
  assertStatus(res, 200);
  return res.body.plan_history;
}

async function start(dialect: (typeof DIALECTS)[number], t: { after(fn: () => Promise<void>): void }) {
  const allot = await startAllot(dialect, { clock: ANCHOR });
  t.after(allot.close);
  await seedPlans(allot, ['basic', 'pro', 'enterprise', 'proYearly']);
  return allot;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: subscriptions — create and change now`, async (t) => {
    const allot = await start(dialect, t);

    const created = await put(allot, 's1', 'u1', { plan_id: 'basic' });
    assertStatus(created, 201);
    assert.match(created.body.id, /^sub_[0-9a-z]{26}$/);
    assert.deepEqual({ ...created.body, id: 'x' }, {
      id: 'x', shop_id: 's1', user_id: 'u1', plan_id: 'basic', plan_display_name: 'Basic', status: 'active',
      billing_cycle: 'monthly', allowance_interval: 'month', allocated_tokens: 100_000, price_minor: 999, currency: 'USD',
      started_at: ANCHOR, current_period_start: ANCHOR, current_period_end: '2026-02-28T12:00:00.000Z',
      next_billing_date: '2026-02-28T12:00:00.000Z', cancel_at_period_end: false, canceled_at: null, pending_plan_id: null,
      used_tokens: 0, reserved_tokens: 0, remaining_tokens: 100_000, usage_percentage: 0,
      action_performed: 'create', previous_plan_id: null, effective_date: ANCHOR, message: 'Created Basic subscription',
    });

    const same = await put(allot, 's1', 'u1', { plan_id: 'basic' });
    assertStatus(same, 200);
    assert.equal(same.body.action_performed, 'none');
    assert.equal(same.body.previous_plan_id, 'basic');
    assert.equal(same.body.id, created.body.id);
    assert.equal(same.body.message, 'Already on Basic');

    await use(allot, 's1', 'u1', 'e1', 60_000);
    await allot.setClock('2026-02-10T08:00:00.000Z');
    const up = await put(allot, 's1', 'u1', { plan_id: 'pro' });
    assertStatus(up, 200);
    assert.equal(up.body.id, created.body.id);
    assert.equal(up.body.action_performed, 'upgrade');
    assert.equal(up.body.previous_plan_id, 'basic');
    assert.equal(up.body.effective_date, '2026-02-10T08:00:00.000Z');
    assert.equal(up.body.message, 'Upgraded to Pro');
    assert.equal(up.body.plan_id, 'pro');
    assert.equal(up.body.allocated_tokens, 400_000);
    assert.equal(up.body.used_tokens, 60_000, 'usage carries over');
    assert.equal(up.body.remaining_tokens, 340_000);
    assert.equal(up.body.usage_percentage, 15);
    assert.equal(up.body.current_period_end, '2026-02-28T12:00:00.000Z', 'the period does not move');

    await use(allot, 's1', 'u1', 'e2', 90_000);
    await allot.setClock('2026-02-12T00:00:00.000Z');
    const down = await put(allot, 's1', 'u1', { plan_id: 'basic', when: 'now' });
    assertStatus(down, 200);
    assert.equal(down.body.action_performed, 'downgrade');
    assert.equal(down.body.previous_plan_id, 'pro');
    assert.equal(down.body.message, 'Downgraded to Basic');
    assert.equal(down.body.used_tokens, 150_000);
    assert.equal(down.body.remaining_tokens, 0, 'a downgrade below usage leaves nothing');
    assert.equal(down.body.usage_percentage, 150);

    const enforced = await allot.api('POST', '/v1/usage', { event_id: 'e3', shop_id: 's1', user_id: 'u1', tokens: 1, enforce: true });
    assertProblem(enforced, 429, 'quota_exceeded');

    assertStatus(await allot.api('POST', '/v1/plans', { ...plans.basic, id: 'basic-eur', display_name: 'Basic EUR', currency: 'EUR' }), 201);
    const change = await put(allot, 's1', 'u1', { plan_id: 'basic-eur' });
    assertStatus(change, 200);
    assert.equal(change.body.action_performed, 'change');
    assert.equal(change.body.currency, 'EUR');
    assert.equal(change.body.message, 'Changed to Basic EUR');

    assert.deepEqual(await planHistory(allot, 's1', 'u1'), [
      { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: ANCHOR, end_date: '2026-02-10T08:00:00.000Z', change_reason: 'upgrade' },
      { plan_id: 'pro', allocated_tokens: 400_000, price_minor: 2999, start_date: '2026-02-10T08:00:00.000Z', end_date: '2026-02-12T00:00:00.000Z', change_reason: 'downgrade' },
      { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: '2026-02-12T00:00:00.000Z', end_date: '2026-02-12T00:00:00.000Z', change_reason: 'change' },
    ]);

    await allot.setClock('2026-02-28T12:00:00.000Z');
    const next = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(next.body.used_tokens, 0);
    assert.equal(next.body.remaining_tokens, 100_000, 'the next period refills the downgraded allowance');
  });

  test(`${dialect}: subscriptions — with the clock frozen, the latest of several canceled subscriptions is the one read`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic', 'pro']);
    const ids: string[] = [];
    for (const plan of ['basic', 'pro', 'basic', 'pro', 'basic']) {
      const put = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: plan });
      assertStatus(put, 201);
      ids.push(put.body.id);
      assertStatus(await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: false }), 200);
      const read = await allot.api('GET', '/v1/subscriptions/s1/u1');
      assert.equal(read.body.id, put.body.id, `after ${ids.length} subscriptions in one instant`);
    }
    assert.deepEqual([...ids].sort(), ids, 'ids made in one millisecond sort in the order they were made');
  });

  test(`${dialect}: subscriptions — scheduled changes apply at the next period start`, async (t) => {
    const allot = await start(dialect, t);
    const created = await put(allot, 's1', 'u1', { plan_id: 'basic' });
    await use(allot, 's1', 'u1', 'e1', 5_000);

    const scheduled = await put(allot, 's1', 'u1', { plan_id: 'pro', when: 'period_end' });
    assertStatus(scheduled, 200);
    assert.equal(scheduled.body.action_performed, 'upgrade');
    assert.equal(scheduled.body.previous_plan_id, 'basic');
    assert.equal(scheduled.body.plan_id, 'basic');
    assert.equal(scheduled.body.pending_plan_id, 'pro');
    assert.equal(scheduled.body.allocated_tokens, 100_000);
    assert.equal(scheduled.body.effective_date, '2026-02-28T12:00:00.000Z');
    assert.equal(scheduled.body.message, 'Upgraded to Pro from the next period');
    assert.deepEqual(await planHistory(allot, 's1', 'u1'), [], 'nothing changed yet');

    await allot.setClock('2026-02-28T11:59:59.999Z');
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.plan_id, 'basic');

    await allot.setClock('2026-02-28T12:00:00.000Z');
    const rolled = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assertStatus(rolled, 200);
    assert.equal(rolled.body.id, created.body.id);
    assert.equal(rolled.body.plan_id, 'pro');
    assert.equal(rolled.body.plan_display_name, 'Pro');
    assert.equal(rolled.body.pending_plan_id, null);
    assert.equal(rolled.body.allocated_tokens, 400_000);
    assert.equal(rolled.body.used_tokens, 0);
    assert.equal(rolled.body.current_period_start, '2026-02-28T12:00:00.000Z');
    assert.equal(rolled.body.current_period_end, '2026-03-31T12:00:00.000Z');
    assert.deepEqual(await planHistory(allot, 's1', 'u1'), [
      { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: ANCHOR, end_date: '2026-02-28T12:00:00.000Z', change_reason: 'scheduled_change' },
    ]);
    const periods = await allot.api('GET', '/v1/subscriptions/s1/u1/periods');
    assert.deepEqual(periods.body.data.map((p: { plan_id: string; used_tokens: number }) => [p.plan_id, p.used_tokens]), [['basic', 5_000]]);

    // A PUT of the current plan drops a pending change.
    await put(allot, 's1', 'u1', { plan_id: 'basic', when: 'period_end' });
    const kept = await put(allot, 's1', 'u1', { plan_id: 'pro' });
    assert.equal(kept.body.action_performed, 'none');
    assert.equal(kept.body.pending_plan_id, null);
  });

  test(`${dialect}: subscriptions — cycle changes only at period end; yearly billing with monthly allowance`, async (t) => {
    const allot = await start(dialect, t);
    await put(allot, 's1', 'u1', { plan_id: 'pro' });
    const now = await put(allot, 's1', 'u1', { plan_id: 'pro-yearly' });
    assertProblem(now, 422, 'cycle_change_requires_period_end');
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.pending_plan_id, null, 'a refused change changes nothing');

    const later = await put(allot, 's1', 'u1', { plan_id: 'pro-yearly', when: 'period_end' });
    assertStatus(later, 200);
    assert.equal(later.body.action_performed, 'change');
    assert.equal(later.body.pending_plan_id, 'pro-yearly');

    await allot.setClock('2026-03-01T00:00:00.000Z');
    const yearly = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(yearly.body.billing_cycle, 'yearly');
    assert.equal(yearly.body.allowance_interval, 'month');
    assert.equal(yearly.body.current_period_start, '2026-02-28T12:00:00.000Z');
    assert.equal(yearly.body.current_period_end, '2026-03-28T12:00:00.000Z', 'periods count from the new anchor');
    assert.equal(yearly.body.next_billing_date, '2027-02-28T12:00:00.000Z');

    const fresh = await put(allot, 's1', 'u2', { plan_id: 'pro-yearly' });
    assertStatus(fresh, 201);
    assert.equal(fresh.body.current_period_end, '2026-04-01T00:00:00.000Z');
    assert.equal(fresh.body.next_billing_date, '2027-03-01T00:00:00.000Z');
    await allot.setClock('2026-05-02T00:00:00.000Z');
    const monthThree = await allot.api('GET', '/v1/subscriptions/s1/u2');
    assert.equal(monthThree.body.current_period_start, '2026-05-01T00:00:00.000Z');
    assert.equal(monthThree.body.current_period_end, '2026-06-01T00:00:00.000Z');
    assert.equal(monthThree.body.next_billing_date, '2027-03-01T00:00:00.000Z', 'billed yearly while tokens refill monthly');
    const periods = await allot.api('GET', '/v1/subscriptions/s1/u2/periods');
    assert.deepEqual(periods.body.data.map((p: { period_start: string; period_end: string }) => [p.period_start, p.period_end]), [
      ['2026-04-01T00:00:00.000Z', '2026-05-01T00:00:00.000Z'],
      ['2026-03-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z'],
    ]);
  });

  test(`${dialect}: subscriptions — billed yearly, refilled monthly: cancel and period_end changes wait for the billing date`, async (t) => {
    const allot = await start(dialect, t);
    const basicYearly = { ...plans.proYearly, id: 'basic-yearly', display_name: 'Basic (yearly)', allocated_tokens: 100_000, tier: 1 };
    assertStatus(await allot.api('POST', '/v1/plans', basicYearly), 201);
    const billingDate = '2027-01-31T12:00:00.000Z';
    const alertCodes = async (user: string) => {
      const status = await allot.api('GET', `/v1/subscriptions/s1/${user}/status`);
      assertStatus(status, 200);
      return status.body.alerts.map((a: { code: string }) => a.code);
    };

    const first = await put(allot, 's1', 'u1', { plan_id: 'pro-yearly' });
    await use(allot, 's1', 'u1', 'e1', 1_000);
    const cancel = await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: true });
    assertStatus(cancel, 200);
    assert.equal(cancel.body.status, 'active');
    assert.equal(cancel.body.cancel_at_period_end, true);
    assert.equal(cancel.body.current_period_end, '2026-02-28T12:00:00.000Z');
    assert.equal(cancel.body.next_billing_date, billingDate);

    await put(allot, 's1', 'u2', { plan_id: 'pro-yearly' });
    const scheduled = await put(allot, 's1', 'u2', { plan_id: 'basic-yearly', when: 'period_end' });
    assertStatus(scheduled, 200);
    assert.equal(scheduled.body.action_performed, 'downgrade');
    assert.equal(scheduled.body.pending_plan_id, 'basic-yearly');
    assert.equal(scheduled.body.effective_date, billingDate, 'a period_end change applies when the billed year ends');
    assert.equal(scheduled.body.message, 'Downgraded to Basic (yearly) from the next billing period (2027-01-31)');

    // A day before the first month ends: a refill is coming, neither an end nor a bill.
    await allot.setClock('2026-02-27T12:00:00.000Z');
    assert.deepEqual(await alertCodes('u1'), []);
    assert.deepEqual(await alertCodes('u2'), []);

    await allot.setClock('2026-03-01T00:00:00.000Z');
    const refilled = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(refilled.body.status, 'active', 'the paid-for year goes on after the first month');
    assert.equal(refilled.body.cancel_at_period_end, true);
    assert.equal(refilled.body.used_tokens, 0);
    assert.equal(refilled.body.remaining_tokens, 400_000, 'the allowance refilled');
    assert.equal(refilled.body.current_period_start, '2026-02-28T12:00:00.000Z');
    assert.equal(refilled.body.current_period_end, '2026-03-31T12:00:00.000Z');
    assert.equal(refilled.body.next_billing_date, billingDate);
    const pending = await allot.api('GET', '/v1/subscriptions/s1/u2');
    assert.equal(pending.body.plan_id, 'pro-yearly');
    assert.equal(pending.body.pending_plan_id, 'basic-yearly');
    assert.equal(pending.body.allocated_tokens, 400_000);
    await use(allot, 's1', 'u1', 'e2', 2_000);

    // Three days before the billing date: one says it ends, the other that it renews.
    await allot.setClock('2027-01-28T12:00:00.000Z');
    assert.deepEqual(await alertCodes('u1'), ['ends_soon']);
    assert.deepEqual(await alertCodes('u2'), ['renewal_soon']);

    await allot.setClock('2027-01-31T11:59:59.999Z');
    const lastMonth = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(lastMonth.body.status, 'active');
    assert.equal(lastMonth.body.current_period_start, '2026-12-31T12:00:00.000Z');
    assert.equal(lastMonth.body.current_period_end, billingDate);
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u2')).body.plan_id, 'pro-yearly');

    await allot.setClock(billingDate);
    const ended = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(ended.body.id, first.body.id);
    assert.equal(ended.body.status, 'canceled');
    assert.equal(ended.body.canceled_at, billingDate, 'canceled exactly at the billing date');
    assert.equal(ended.body.next_billing_date, null);
    const periods = await allot.api('GET', '/v1/subscriptions/s1/u1/periods?limit=100');
    const closed = periods.body.data.map((p: { period_start: string; used_tokens: number }) => [p.period_start, p.used_tokens]);
    assert.equal(closed.length, 12, 'each month closed with its own summary');
    assert.deepEqual(closed.at(-1), [ANCHOR, 1_000]);
    assert.deepEqual(closed.at(-2), ['2026-02-28T12:00:00.000Z', 2_000]);
    assert.equal(periods.body.data[0].period_end, billingDate);

    const changed = await allot.api('GET', '/v1/subscriptions/s1/u2');
    assert.equal(changed.body.status, 'active');
    assert.equal(changed.body.plan_id, 'basic-yearly');
    assert.equal(changed.body.pending_plan_id, null);
    assert.equal(changed.body.allocated_tokens, 100_000);
    assert.equal(changed.body.current_period_start, billingDate);
    assert.equal(changed.body.next_billing_date, '2028-01-31T12:00:00.000Z');
    const history = await planHistory(allot, 's1', 'u2');
    assert.deepEqual(history.map((h: { plan_id: string; end_date: string }) => [h.plan_id, h.end_date]), [['pro-yearly', billingDate]]);
  });

  test(`${dialect}: periods — calendar-correct, every missed period keeps its own summary`, async (t) => {
    const allot = await start(dialect, t);
    await put(allot, 's1', 'u1', { plan_id: 'basic' });
    await allot.setClock('2026-02-01T10:00:00.000Z');
    await use(allot, 's1', 'u1', 'a1', 1_000);
    await use(allot, 's1', 'u1', 'a2', 2_000);
    await allot.setClock('2026-02-02T10:00:00.000Z');
    await use(allot, 's1', 'u1', 'a3', 500);

    await allot.setClock('2026-03-05T00:00:00.000Z');
    const second = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(second.body.current_period_start, '2026-02-28T12:00:00.000Z');
    assert.equal(second.body.current_period_end, '2026-03-31T12:00:00.000Z');
    await use(allot, 's1', 'u1', 'b1', 700);

    await allot.setClock('2026-05-15T00:00:00.000Z');
    const periods = await allot.api('GET', '/v1/subscriptions/s1/u1/periods');
    assertStatus(periods, 200);
    const sub = (await allot.api('GET', '/v1/subscriptions/s1/u1')).body;
    assert.equal(sub.current_period_start, '2026-04-30T12:00:00.000Z');
    assert.equal(sub.current_period_end, '2026-05-31T12:00:00.000Z');
    assert.equal(sub.used_tokens, 0);
    const common = { subscription_id: sub.id, plan_id: 'basic', allocated_tokens: 100_000 };
    assert.deepEqual(periods.body, {
      data: [
        { ...common, period_start: '2026-03-31T12:00:00.000Z', period_end: '2026-04-30T12:00:00.000Z', used_tokens: 0, queries: 0, peak_daily_tokens: 0 },
        { ...common, period_start: '2026-02-28T12:00:00.000Z', period_end: '2026-03-31T12:00:00.000Z', used_tokens: 700, queries: 1, peak_daily_tokens: 700 },
        { ...common, period_start: ANCHOR, period_end: '2026-02-28T12:00:00.000Z', used_tokens: 3_500, queries: 3, peak_daily_tokens: 3_000 },
      ],
      next_cursor: null,
    });

    const first = await allot.api('GET', '/v1/subscriptions/s1/u1/periods?limit=2');
    assert.equal(first.body.data.length, 2);
    const rest = await allot.api('GET', `/v1/subscriptions/s1/u1/periods?limit=2&cursor=${first.body.next_cursor}`);
    assert.deepEqual(rest.body.data.map((p: { period_start: string }) => p.period_start), [ANCHOR]);
    assert.equal(rest.body.next_cursor, null);

    // Rolling is idempotent: the sweep finds nothing left to do.
    const sweep = await allot.api('POST', '/v1/renewals/run');
    assertStatus(sweep, 200);
    assert.equal(sweep.body.subscriptions_rolled, 0);
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1/periods')).body.data.length, 3);
  });

  test(`${dialect}: periods — a list rolls what it shows`, async (t) => {
    const allot = await start(dialect, t);
    await put(allot, 's1', 'u1', { plan_id: 'basic' });
    await put(allot, 's2', 'u1', { plan_id: 'basic' });
    await allot.api('POST', '/v1/subscriptions/s2/u1/cancel');
    await allot.setClock('2026-03-01T00:00:00.000Z');
    const canceled = await allot.api('GET', '/v1/subscriptions?status=canceled');
    assert.deepEqual(canceled.body.data.map((s: { shop_id: string }) => s.shop_id), ['s2'], 'a list rolls what it shows');
    const active = await allot.api('GET', '/v1/subscriptions?shop_id=s1&status=active');
    assert.equal(active.body.data[0].current_period_start, '2026-02-28T12:00:00.000Z');
  });

  test(`${dialect}: periods — the renewal sweep rolls subscriptions nobody touches`, async (t) => {
    const allot = await start(dialect, t);
    await put(allot, 's1', 'u1', { plan_id: 'basic' });
    await put(allot, 's1', 'u2', { plan_id: 'pro' });
    await use(allot, 's1', 'u1', 'e1', 10);
    await allot.setClock('2026-04-01T00:00:00.000Z');
    const sweep = await allot.api('POST', '/v1/renewals/run');
    assertStatus(sweep, 200);
    assert.equal(sweep.body.subscriptions_rolled, 2);
    const listed = await allot.api('GET', '/v1/subscriptions?shop_id=s1');
    for (const sub of listed.body.data) {
      assert.equal(sub.current_period_start, '2026-03-31T12:00:00.000Z');
      assert.equal(sub.used_tokens, 0);
    }
  });

  test(`${dialect}: subscriptions — cancel at period end, cancel now, start again`, async (t) => {
    const allot = await start(dialect, t);
    const first = await put(allot, 's1', 'u1', { plan_id: 'basic' });
    await use(allot, 's1', 'u1', 'e1', 100);

    const cancel = await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', {});
    assertStatus(cancel, 200);
    assert.equal(cancel.body.status, 'active');
    assert.equal(cancel.body.cancel_at_period_end, true);
    assert.equal(cancel.body.canceled_at, null);

    await allot.setClock('2026-03-10T00:00:00.000Z');
    const canceled = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assertStatus(canceled, 200);
    assert.equal(canceled.body.id, first.body.id);
    assert.equal(canceled.body.status, 'canceled');
    assert.equal(canceled.body.canceled_at, '2026-02-28T12:00:00.000Z');
    assert.equal(canceled.body.next_billing_date, null);
    assertProblem(
      await allot.api('POST', '/v1/usage', { event_id: 'e2', shop_id: 's1', user_id: 'u1', tokens: 1 }),
      404,
      'subscription_not_found',
    );
    const listed = await allot.api('GET', '/v1/subscriptions?shop_id=s1&status=canceled');
    assert.deepEqual(listed.body.data.map((s: { id: string }) => s.id), [first.body.id]);
    assertProblem(await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', {}), 404, 'subscription_not_found');

    const again = await put(allot, 's1', 'u1', { plan_id: 'pro' });
    assertStatus(again, 201);
    assert.equal(again.body.action_performed, 'create');
    assert.notEqual(again.body.id, first.body.id);
    assert.equal(again.body.started_at, '2026-03-10T00:00:00.000Z');
    assert.equal(again.body.current_period_end, '2026-04-10T00:00:00.000Z', 'a new anchor');
    assert.equal(again.body.used_tokens, 0);
    const periods = await allot.api('GET', '/v1/subscriptions/s1/u1/periods');
    assert.deepEqual(periods.body.data.map((p: { subscription_id: string; used_tokens: number }) => [p.subscription_id, p.used_tokens]), [
      [first.body.id, 100],
    ]);

    await use(allot, 's1', 'u1', 'e3', 250);
    const now = await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: false });
    assertStatus(now, 200);
    assert.equal(now.body.status, 'canceled');
    assert.equal(now.body.canceled_at, '2026-03-10T00:00:00.000Z');
    assert.equal(now.body.used_tokens, 250);
    const closed = await allot.api('GET', '/v1/subscriptions/s1/u1/periods');
    assert.deepEqual(closed.body.data[0], {
      subscription_id: again.body.id, period_start: '2026-03-10T00:00:00.000Z', period_end: '2026-03-10T00:00:00.000Z',
      plan_id: 'pro', allocated_tokens: 400_000, used_tokens: 250, queries: 1, peak_daily_tokens: 250,
    });
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.id, again.body.id, 'the latest canceled one reads');

    // A PUT of the same plan before the end takes a scheduled cancel back.
    await put(allot, 's1', 'u2', { plan_id: 'basic' });
    await allot.api('POST', '/v1/subscriptions/s1/u2/cancel');
    const undo = await put(allot, 's1', 'u2', { plan_id: 'basic' });
    assertStatus(undo, 200);
    assert.equal(undo.body.cancel_at_period_end, false);
  });

  test(`${dialect}: subscriptions — suspend and resume; list with filters`, async (t) => {
    const allot = await start(dialect, t);
    await put(allot, 's1', 'u1', { plan_id: 'basic' });
    await put(allot, 's1', 'u2', { plan_id: 'basic' });
    await put(allot, 's2', 'u1', { plan_id: 'pro' });

    const suspended = await allot.api('POST', '/v1/subscriptions/s1/u1/suspend');
    assertStatus(suspended, 200);
    assert.equal(suspended.body.status, 'suspended');
    assertProblem(
      await allot.api('POST', '/v1/usage', { event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 1, enforce: true }),
      409,
      'subscription_suspended',
    );
    const recorded = await allot.api('POST', '/v1/usage', { event_id: 'e2', shop_id: 's1', user_id: 'u1', tokens: 7 });
    assertStatus(recorded, 200);
    assert.equal(recorded.body.used_tokens, 7, 'spent tokens are recorded even while suspended');
    assertStatus(await allot.api('POST', '/v1/subscriptions/s1/u1/suspend'), 200);

    const bySuspended = await allot.api('GET', '/v1/subscriptions?status=suspended');
    assert.deepEqual(bySuspended.body.data.map((s: { shop_id: string; user_id: string }) => `${s.shop_id}/${s.user_id}`), ['s1/u1']);
    const byShop = await allot.api('GET', '/v1/subscriptions?shop_id=s1');
    assert.deepEqual(byShop.body.data.map((s: { user_id: string }) => s.user_id).sort(), ['u1', 'u2']);
    const activeInShop = await allot.api('GET', '/v1/subscriptions?shop_id=s1&status=active');
    assert.deepEqual(activeInShop.body.data.map((s: { user_id: string }) => s.user_id), ['u2']);
    const all = await allot.api('GET', '/v1/subscriptions?limit=2');
    assert.equal(all.body.data.length, 2);
    const rest = await allot.api('GET', `/v1/subscriptions?limit=2&cursor=${all.body.next_cursor}`);
    assert.equal(rest.body.data.length, 1);
    assert.equal(rest.body.next_cursor, null);

    const resumed = await allot.api('POST', '/v1/subscriptions/s1/u1/resume');
    assertStatus(resumed, 200);
    assert.equal(resumed.body.status, 'active');
    assert.equal(resumed.body.used_tokens, 7);
    assertStatus(await allot.api('POST', '/v1/usage', { event_id: 'e3', shop_id: 's1', user_id: 'u1', tokens: 1, enforce: true }), 200);
  });

  test(`${dialect}: subscriptions — errors change nothing`, async (t) => {
    const allot = await start(dialect, t);
    await put(allot, 's1', 'u1', { plan_id: 'basic' });

    const unknown = await put(allot, 's1', 'u1', { plan_id: 'pro', color: 'red' });
    assertProblem(unknown, 400, 'validation_error');
    assert.deepEqual(errorPaths(unknown), ['color']);
    const when = await put(allot, 's1', 'u1', { plan_id: 'pro', when: 'tomorrow' });
    assertProblem(when, 400, 'validation_error');
    assert.deepEqual(errorPaths(when), ['when']);
    assertProblem(await put(allot, 's1', 'u1', {}), 400, 'validation_error');
    assertStatus(await put(allot, 's'.repeat(128), 'u'.repeat(128), { plan_id: 'pro' }), 201);
    const badIds = await put(allot, 'bad%20shop', 'u'.repeat(129), { plan_id: 'pro' });
    assertProblem(badIds, 400, 'validation_error');
    assert.deepEqual(errorPaths(badIds), ['shop_id', 'user_id']);
    assertProblem(await put(allot, 's1', 'u1', { plan_id: 'nope' }), 404, 'plan_not_found');
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.plan_id, 'basic');

    assertProblem(await allot.api('GET', '/v1/subscriptions/s1/nobody'), 404, 'subscription_not_found');
    for (const action of ['cancel', 'suspend', 'resume']) {
      assertProblem(await allot.api('POST', `/v1/subscriptions/s1/nobody/${action}`), 404, 'subscription_not_found');
    }
    assertProblem(await allot.api('GET', '/v1/subscriptions/s1/nobody/periods'), 404, 'subscription_not_found');
    assertProblem(await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: 'yes' }), 400, 'validation_error');
    assertProblem(await allot.api('GET', '/v1/subscriptions?status=gone'), 400, 'validation_error');
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.cancel_at_period_end, false);
  });

  test(`${dialect}: subscriptions — a shop key sees only its own shop`, async (t) => {
    const allot = await start(dialect, t);
    const keyA = await createShopKey(allot, 'shopA');
    const b = await put(allot, 'shopB', 'u1', { plan_id: 'basic' });

    const mine = await put(allot, 'shopA', 'u1', { plan_id: 'basic' }, keyA);
    assertStatus(mine, 201);
    assertStatus(await allot.api('GET', '/v1/subscriptions/shopA/u1', undefined, { key: keyA }), 200);

    assert.equal((await allot.api('GET', '/v1/subscriptions/shopB/u1', undefined, { key: keyA })).status, 404);
    assert.equal((await put(allot, 'shopB', 'u1', { plan_id: 'pro' }, keyA)).status, 404);
    assert.equal((await put(allot, 'shopB', 'u2', { plan_id: 'pro' }, keyA)).status, 404);
    for (const action of ['cancel', 'suspend', 'resume']) {
      assert.equal((await allot.api('POST', `/v1/subscriptions/shopB/u1/${action}`, undefined, { key: keyA })).status, 404);
    }
    assert.equal((await allot.api('GET', '/v1/subscriptions/shopB/u1/periods', undefined, { key: keyA })).status, 404);
    assert.equal((await allot.api('GET', '/v1/subscriptions/shopB/u1/status', undefined, { key: keyA })).status, 404);
    assert.equal((await allot.api('GET', '/v1/subscriptions?shop_id=shopB', undefined, { key: keyA })).status, 404);
    const listed = await allot.api('GET', '/v1/subscriptions', undefined, { key: keyA });
    assert.deepEqual(listed.body.data.map((s: { shop_id: string }) => s.shop_id), ['shopA']);

    const after = (await allot.api('GET', '/v1/subscriptions/shopB/u1')).body;
    assert.equal(after.plan_id, 'basic');
    assert.equal(after.status, 'active');
    assert.equal(after.id, b.body.id);
    assertProblem(await allot.api('GET', '/v1/subscriptions/shopB/u2'), 404, 'subscription_not_found');
  });
}
