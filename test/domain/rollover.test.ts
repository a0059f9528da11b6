/** Closing a period (SPEC §5): pure steps that never drift from the anchor. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Plan, Subscription } from '../../src/domain/model.ts';
import { addIntervals } from '../../src/domain/periods.ts';
import { billingPeriodEnd, isDue, nextBillingDate, rollOnce } from '../../src/domain/rollover.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const at = (s: string) => Date.parse(s);
const T0 = at('2025-01-31T12:00:00.000Z');

function plan(id: string, extra: Partial<Plan> = {}): Plan {
  return {
    id, display_name: id, allocated_tokens: 400_000, price_minor: 2999, currency: 'USD', billing_cycle: 'monthly',
    allowance_interval: 'month', tier: 2, archived: false, created_at: 0, ...extra,
  };
}

function subscription(anchor: number, extra: Partial<Subscription> = {}): Subscription {
  return {
    id: 'sub_1', shop_id: 's', user_id: 'u', plan_id: 'basic', plan_display_name: 'Basic', status: 'active',
    billing_cycle: 'monthly', allowance_interval: 'month', allocated_tokens: 100_000, price_minor: 999, currency: 'USD',
    started_at: anchor, period_anchor: anchor, period_index: 0, current_period_start: anchor,
    current_period_end: addIntervals(anchor, 'month', 1), billing_anchor: anchor, plan_started_at: anchor,
    cancel_at_period_end: false, pending_plan_id: null, used_tokens: 0, reserved_tokens: 0, queries: 0, canceled_at: null,
    created_at: anchor, updated_at: anchor, ...extra,
  };
}

test('due exactly at the period end, never when canceled', () => {
  const sub = subscription(T0);
  assert.equal(isDue(sub, sub.current_period_end - 1), false);
  assert.equal(isDue(sub, sub.current_period_end), true);
  assert.equal(isDue({ ...sub, status: 'suspended' }, sub.current_period_end), true);
  assert.equal(isDue({ ...sub, status: 'canceled' }, sub.current_period_end + 1e9), false);
});

test('anchor Jan 31 12:00Z: ends Feb 28, Mar 31, Apr 30, May 31; counters reset, holds kept', () => {
  let sub = subscription(T0, { used_tokens: 70_000, reserved_tokens: 3_000, queries: 9 });
  const ends = [iso(sub.current_period_end)];
  const first = rollOnce(sub, undefined, 12_345);
  assert.deepEqual(first.summary, {
    subscription_id: 'sub_1', period_start: T0, period_end: at('2025-02-28T12:00:00.000Z'), plan_id: 'basic',
    allocated_tokens: 100_000, used_tokens: 70_000, queries: 9, peak_daily_tokens: 12_345,
  });
  assert.equal(first.tenure, null);
  assert.equal(first.next.used_tokens, 0);
  assert.equal(first.next.queries, 0);
  assert.equal(first.next.reserved_tokens, 3_000, 'active holds keep holding across a rollover');
  sub = first.next;
  for (let i = 0; i < 3; i++) {
    ends.push(iso(sub.current_period_end));
    sub = rollOnce(sub, undefined, 0).next;
  }
  assert.deepEqual(ends, ['2025-02-28T12:00:00.000Z', '2025-03-31T12:00:00.000Z', '2025-04-30T12:00:00.000Z', '2025-05-31T12:00:00.000Z']);
  assert.equal(iso(sub.current_period_start), '2025-05-31T12:00:00.000Z');
  assert.equal(iso(sub.current_period_end), '2025-06-30T12:00:00.000Z');
  assert.equal(sub.period_index, 4);
});

test('cancel at period end: canceled at the boundary, pending dropped', () => {
  const sub = subscription(T0, { cancel_at_period_end: true, pending_plan_id: 'pro', used_tokens: 5 });
  const step = rollOnce(sub, plan('pro'), 5);
  assert.equal(step.next.status, 'canceled');
  assert.equal(step.next.canceled_at, sub.current_period_end);
  assert.equal(step.next.pending_plan_id, null);
  assert.equal(step.next.plan_id, 'basic', 'a canceled subscription keeps its last plan');
  assert.equal(step.next.used_tokens, 5, 'and its final counters and period');
  assert.equal(step.next.current_period_start, sub.current_period_start);
  assert.equal(step.summary.used_tokens, 5);
  assert.equal(step.tenure, null);
});

test('a pending plan of the same cycle applies at the boundary, keeping the anchor', () => {
  const sub = subscription(T0, { pending_plan_id: 'pro', plan_started_at: T0 + 5 });
  const step = rollOnce(sub, plan('pro'), 0);
  assert.deepEqual(step.tenure, {
    plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: T0 + 5, end_date: sub.current_period_end, change_reason: 'scheduled_change',
  });
  const next = step.next;
  assert.equal(next.plan_id, 'pro');
  assert.equal(next.allocated_tokens, 400_000);
  assert.equal(next.price_minor, 2999);
  assert.equal(next.pending_plan_id, null);
  assert.equal(next.plan_started_at, sub.current_period_end);
  assert.equal(next.period_anchor, T0);
  assert.equal(iso(next.current_period_end), '2025-03-31T12:00:00.000Z');
  assert.equal(step.summary.plan_id, 'basic', 'the closed period belongs to the old plan');
});

test('a pending plan of another cycle starts a new anchor at the boundary', () => {
  const sub = subscription(T0, { pending_plan_id: 'pool', period_index: 2, current_period_start: at('2025-03-31T12:00:00.000Z'), current_period_end: at('2025-04-30T12:00:00.000Z') });
  const next = rollOnce(sub, plan('pool', { billing_cycle: 'yearly', allowance_interval: 'year' }), 0).next;
  assert.equal(next.billing_cycle, 'yearly');
  assert.equal(next.allowance_interval, 'year');
  assert.equal(next.period_anchor, at('2025-04-30T12:00:00.000Z'));
  assert.equal(next.billing_anchor, at('2025-04-30T12:00:00.000Z'));
  assert.equal(next.period_index, 0);
  assert.equal(iso(next.current_period_end), '2026-04-30T12:00:00.000Z');
  assert.equal(iso(nextBillingDate(next)), '2026-04-30T12:00:00.000Z');
});

test('next billing date follows the billing cycle, not the allowance', () => {
  const yearly = subscription(T0, { billing_cycle: 'yearly' });
  assert.equal(iso(nextBillingDate(yearly)), '2026-01-31T12:00:00.000Z');
  let sub = yearly;
  for (let i = 0; i < 11; i++) sub = rollOnce(sub, undefined, 0).next;
  assert.equal(iso(sub.current_period_start), '2025-12-31T12:00:00.000Z');
  assert.equal(iso(nextBillingDate(sub)), '2026-01-31T12:00:00.000Z');
  sub = rollOnce(sub, undefined, 0).next;
  assert.equal(iso(sub.current_period_start), '2026-01-31T12:00:00.000Z');
  assert.equal(iso(nextBillingDate(sub)), '2027-01-31T12:00:00.000Z');
  assert.equal(iso(nextBillingDate(subscription(T0))), '2025-02-28T12:00:00.000Z');
  const leap = subscription(at('2024-02-29T00:00:00.000Z'), { billing_cycle: 'yearly' });
  assert.equal(iso(nextBillingDate(leap)), '2025-02-28T00:00:00.000Z');
});

test('billed yearly, refilled monthly: cancel at period end waits for the billing date, each month refills and is summarised', () => {
  let sub = subscription(T0, { billing_cycle: 'yearly', cancel_at_period_end: true });
  const billing = nextBillingDate(sub);
  assert.equal(iso(billing), '2026-01-31T12:00:00.000Z');
  assert.equal(billingPeriodEnd(sub), billing);
  for (let month = 1; month <= 11; month++) {
    const step = rollOnce({ ...sub, used_tokens: month }, undefined, 0);
    assert.equal(step.summary.used_tokens, month, 'each month closes with its own summary');
    assert.equal(step.next.status, 'active', `still active after month ${month}`);
    assert.equal(step.next.cancel_at_period_end, true);
    assert.equal(step.next.used_tokens, 0, 'the allowance refills monthly');
    assert.equal(nextBillingDate(step.next), billing);
    sub = step.next;
  }
  assert.equal(sub.current_period_end, billing);
  const last = rollOnce(sub, undefined, 0);
  assert.equal(last.next.status, 'canceled');
  assert.equal(last.next.canceled_at, billing, 'canceled exactly at the billing date');
});

test('billed yearly, refilled monthly: a pending plan applies at the billing date, not after a month', () => {
  let sub = subscription(T0, { billing_cycle: 'yearly', pending_plan_id: 'pro' });
  const pro = plan('pro', { billing_cycle: 'yearly' });
  for (let month = 1; month <= 11; month++) {
    const step = rollOnce(sub, pro, 0);
    assert.equal(step.next.plan_id, 'basic');
    assert.equal(step.next.pending_plan_id, 'pro');
    assert.equal(step.tenure, null);
    sub = step.next;
  }
  const applied = rollOnce(sub, pro, 0);
  assert.equal(applied.next.plan_id, 'pro');
  assert.equal(applied.next.pending_plan_id, null);
  assert.equal(applied.tenure?.end_date, at('2026-01-31T12:00:00.000Z'));
  assert.equal(iso(applied.next.current_period_end), '2026-02-28T12:00:00.000Z');
  assert.equal(iso(nextBillingDate(applied.next)), '2027-01-31T12:00:00.000Z');
});

test('billed monthly: cancel and pending plans still apply at the period end', () => {
  const sub = subscription(T0, { cancel_at_period_end: true });
  assert.equal(billingPeriodEnd(sub), sub.current_period_end);
  assert.equal(rollOnce(sub, undefined, 0).next.status, 'canceled');
});

test('a billing date inside an allowance period (imported): what waits on it applies at that period\'s end', () => {
  const periodEnd = at('2025-03-15T00:00:00.000Z');
  const sub = subscription(T0, {
    billing_cycle: 'yearly', period_anchor: periodEnd, period_index: -1, current_period_start: at('2025-02-13T00:00:00.000Z'),
    current_period_end: periodEnd, billing_anchor: at('2025-06-10T00:00:00.000Z'),
  });
  assert.equal(iso(billingPeriodEnd(sub)), '2025-06-15T00:00:00.000Z');
});

test('property: rolling k times lands on anchor + k months, periods tile without gaps', () => {
  const anchors = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2090-12-31T23:59:59Z'), noInvalidDate: true });
  fc.assert(
    fc.property(anchors, fc.integer({ min: 1, max: 40 }), (date, k) => {
      const anchor = date.getTime();
      let sub = subscription(anchor);
      for (let i = 1; i <= k; i++) {
        const step = rollOnce(sub, undefined, 0);
        assert.equal(step.summary.period_end, step.next.current_period_start);
        assert.ok(step.next.current_period_end > step.next.current_period_start);
        sub = step.next;
        assert.equal(sub.current_period_start, addIntervals(anchor, 'month', i));
      }
      assert.equal(new Date(sub.current_period_start).getUTCHours(), date.getUTCHours(), 'the time of day is kept');
    }),
    { numRuns: 300 },
  );
});
