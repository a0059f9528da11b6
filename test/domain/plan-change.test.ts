/** The pure decision behind PUT /v1/subscriptions (SPEC §4). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AllotError } from '../../src/domain/errors.ts';
import type { Plan, Subscription } from '../../src/domain/model.ts';
import { changeAction, createdMessage, decidePlanChange } from '../../src/domain/plan-change.ts';

const T0 = Date.parse('2026-01-31T12:00:00.000Z');
const END = Date.parse('2026-02-28T12:00:00.000Z');
const NOW = Date.parse('2026-02-10T00:00:00.000Z');

function plan(id: string, allocated: number, extra: Partial<Plan> = {}): Plan {
  return {
    id, display_name: id.toUpperCase(), allocated_tokens: allocated, price_minor: allocated / 100, currency: 'USD',
    billing_cycle: 'monthly', allowance_interval: 'month', tier: 1, archived: false, created_at: 0, ...extra,
  };
}

function subscription(on: Plan, extra: Partial<Subscription> = {}): Subscription {
  return {
    id: 'sub_1', shop_id: 's', user_id: 'u', plan_id: on.id, plan_display_name: on.display_name, status: 'active',
    billing_cycle: on.billing_cycle, allowance_interval: on.allowance_interval, allocated_tokens: on.allocated_tokens,
    price_minor: on.price_minor, currency: on.currency, started_at: T0, period_anchor: T0, period_index: 0,
    current_period_start: T0, current_period_end: END, billing_anchor: T0, plan_started_at: T0, cancel_at_period_end: false,
    pending_plan_id: null, used_tokens: 0, reserved_tokens: 0, queries: 0, canceled_at: null, created_at: T0, updated_at: T0, ...extra,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof AllotError);
    return error.code;
  }
  return 'no error';
}

const basic = plan('basic', 100_000);
const pro = plan('pro', 400_000);
const basicEur = plan('basic-eur', 100_000, { currency: 'EUR' });
const yearly = plan('pro-yearly', 400_000, { billing_cycle: 'yearly' });
const yearPool = plan('pool', 400_000, { billing_cycle: 'yearly', allowance_interval: 'year' });

test('the action compares allowances', () => {
  assert.equal(changeAction(basic, pro), 'upgrade');
  assert.equal(changeAction(pro, basic), 'downgrade');
  assert.equal(changeAction(basic, basicEur), 'change');
  assert.equal(changeAction(basic, basic), 'none');
  assert.equal(changeAction(basic, plan('basic', 1)), 'none', 'the same plan id is never a change');
});

test('now: the previous tenure ends now, named by the action', () => {
  const current = subscription(basic, { plan_started_at: T0 + 1000, used_tokens: 5 });
  assert.deepEqual(decidePlanChange(current, pro, 'now', NOW), {
    kind: 'now',
    action: 'upgrade',
    tenure: { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 1000, start_date: T0 + 1000, end_date: NOW, change_reason: 'upgrade' },
    message: 'Upgraded to PRO',
  });
  const down = decidePlanChange(subscription(pro), basic, 'now', NOW);
  assert.equal(down.kind === 'now' && down.tenure.change_reason, 'downgrade');
  assert.equal(down.message, 'Downgraded to BASIC');
  assert.equal(decidePlanChange(subscription(basic), basicEur, 'now', NOW).message, 'Changed to BASIC-EUR');
});

test('period_end: scheduled for the current period end', () => {
  assert.deepEqual(decidePlanChange(subscription(basic), pro, 'period_end', NOW), {
    kind: 'scheduled', action: 'upgrade', effective: END, message: 'Upgraded to PRO from the next period',
  });
});

test('period_end on a yearly-billed plan with a monthly allowance: scheduled for the billing date', () => {
  const yearly = plan('yearly', 100_000, { billing_cycle: 'yearly' });
  const bigger = plan('bigger', 200_000, { billing_cycle: 'yearly' });
  assert.deepEqual(decidePlanChange(subscription(yearly), bigger, 'period_end', NOW), {
    kind: 'scheduled', action: 'upgrade', effective: Date.parse('2027-01-31T12:00:00.000Z'),
    message: 'Upgraded to BIGGER from the next billing period (2027-01-31)',
  });
});

test('the same plan: nothing, or dropping a pending change', () => {
  assert.deepEqual(decidePlanChange(subscription(basic), basic, 'now', NOW), {
    kind: 'none', action: 'none', clearPending: false, message: 'Already on BASIC',
  });
  const pending = decidePlanChange(subscription(basic, { pending_plan_id: 'pro' }), basic, 'period_end', NOW);
  assert.equal(pending.kind === 'none' && pending.clearPending, true);
  assert.equal(pending.message, 'Kept BASIC; the scheduled plan change was dropped');
  assert.equal(decidePlanChange(subscription(basic), { ...basic, archived: true }, 'now', NOW).kind, 'none', 'keeping an archived plan is fine');
});

test('an archived target is refused', () => {
  assert.equal(code(() => decidePlanChange(subscription(basic), { ...pro, archived: true }, 'now', NOW)), 'plan_archived');
  assert.equal(code(() => decidePlanChange(subscription(basic), { ...pro, archived: true }, 'period_end', NOW)), 'plan_archived');
});

test('a cycle or interval change needs period_end', () => {
  assert.equal(code(() => decidePlanChange(subscription(pro), yearly, 'now', NOW)), 'cycle_change_requires_period_end');
  assert.equal(code(() => decidePlanChange(subscription(yearly), yearPool, 'now', NOW)), 'cycle_change_requires_period_end');
  assert.equal(code(() => decidePlanChange(subscription(yearPool), pro, 'now', NOW)), 'cycle_change_requires_period_end');
  assert.equal(decidePlanChange(subscription(pro), yearly, 'period_end', NOW).kind, 'scheduled');
  assert.equal(decidePlanChange(subscription(pro), yearly, 'period_end', NOW).action, 'change');
});

test('created message', () => {
  assert.equal(createdMessage(pro), 'Created PRO subscription');
});
