/** Reading mongoexport files and mapping the seed's records: pure, no database. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addIntervals } from '../../src/domain/periods.ts';
import { nextBillingDate, rollOnce } from '../../src/domain/rollover.ts';
import { DecimalText, decodeExtended, parseExport, splitDocuments } from '../../src/import/extended-json.ts';
import { assignPlans, importedSubscription, periodDays } from '../../src/import/mapping.ts';
import { toMinorUnits } from '../../src/import/money.ts';
import { readSubscription, readUsage, type SeedSubscription } from '../../src/import/seed.ts';
import type { Plan } from '../../src/domain/model.ts';

const at = (iso: string) => Date.parse(iso);

describe('Extended JSON', () => {
  it('decodes relaxed and canonical wrappers', () => {
    assert.deepEqual(
      decodeExtended({
        _id: { $oid: '65F0A1B2C3D4E5F601000001' },
        relaxed: { $date: '2026-02-14T09:30:00Z' },
        canonical: { $date: { $numberLong: '1771061400000' } },
        long: { $numberLong: '400000' },
        int: { $numberInt: '12' },
        double: { $numberDouble: '9.99' },
        nested: [{ tokens: { $numberInt: '5' } }],
      }),
      {
        _id: '65f0a1b2c3d4e5f601000001',
        relaxed: new Date('2026-02-14T09:30:00Z'),
        canonical: new Date('2026-02-14T09:30:00Z'),
        long: 400000,
        int: 12,
        double: 9.99,
        nested: [{ tokens: 5 }],
      },
    );
    assert.deepEqual(decodeExtended({ fee: { $numberDecimal: '29.99' } }), { fee: new DecimalText('29.99') });
  });

  it('refuses what it cannot represent exactly', () => {
    assert.throws(() => decodeExtended({ n: { $numberLong: '9007199254740993' } }), /too large/);
    assert.throws(() => decodeExtended({ b: { $binary: { base64: '', subType: '00' } } }), /unsupported Extended JSON type \$binary/);
    assert.throws(() => decodeExtended({ d: { $date: 'yesterday' } }), /not a date/);
    assert.throws(() => decodeExtended({ _id: { $oid: 'xyz' } }), /24 hex digits/);
  });

  it('splits one document per line, skipping blank lines, and joins --pretty documents', () => {
    const text = '{"a":1}\n\n{\n  "b": "}{",\n  "c": [1, {"d": 2}]\n}\r\n{"e":3}\n';
    assert.deepEqual(splitDocuments(text), [
      { line: 1, text: '{"a":1}' },
      { line: 3, text: '{\n  "b": "}{",\n  "c": [1, {"d": 2}]\n}' },
      { line: 7, text: '{"e":3}' },
    ]);
  });

  it('splits a JSON array into its elements with their lines', () => {
    const text = '[\n{"a":"]"},\n  {"b":[{"c":1}]} ,\n42,\n{"d":"\\"}"}\n]';
    assert.deepEqual(splitDocuments(text), [
      { line: 2, text: '{"a":"]"}' },
      { line: 3, text: '{"b":[{"c":1}]}' },
      { line: 4, text: '42' },
      { line: 5, text: '{"d":"\\"}"}' },
    ]);
  });

  it('reports a malformed or cut-off document and goes on with the next', () => {
    const parsed = parseExport('{"a":1}\n{"broken": \n{"b":2}\n{"c": tru}\n[1]\n{"d": {"$numberLong": "x"}}\n{"e":');
    assert.deepEqual(
      parsed.map((p) => (p.ok ? p.value : p.reason)),
      [
        { a: 1 },
        'malformed JSON: the document is cut off (its braces never close)',
        { b: 2 },
        parsed[3]!.ok ? null : parsed[3]!.reason,
        'not a JSON object',
        'd.$numberLong must hold an integer string',
        'malformed JSON: the document is cut off (its braces never close)',
      ],
    );
    assert.match((parsed[3] as { reason: string }).reason, /^malformed JSON/);
    assert.deepEqual(parsed.map((p) => p.line), [1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('money to minor units', () => {
  it('converts through the decimal text, never float arithmetic', () => {
    assert.equal(toMinorUnits(29.99, 'USD'), 2999); // 29.99 · 100 = 2998.9999999999995 in floats
    assert.equal(toMinorUnits(0.29, 'USD'), 29); // 0.29 · 100 = 28.999999999999996
    assert.equal(toMinorUnits(9.99, 'usd'.toUpperCase()), 999);
    assert.equal(toMinorUnits(299.9, 'USD'), 29990);
    assert.equal(toMinorUnits(0, 'USD'), 0);
    assert.equal(toMinorUnits(new DecimalText('29.99'), 'EUR'), 2999);
    assert.equal(toMinorUnits(1500, 'JPY'), 1500); // no minor digits
    assert.equal(toMinorUnits(1.234, 'KWD'), 1234); // three
  });

  it('absorbs float noise from the seed arithmetic', () => {
    assert.equal(toMinorUnits(0.1 + 0.2, 'USD'), 30); // 0.30000000000000004
    assert.equal(toMinorUnits(19.999999999999996, 'USD'), 2000);
  });

  it('refuses amounts it would have to round or cannot read', () => {
    assert.throws(() => toMinorUnits(9.995, 'USD'), /more than 2 decimals/);
    assert.throws(() => toMinorUnits(1.5, 'JPY'), /more than 0 decimals/);
    assert.throws(() => toMinorUnits(-1, 'USD'), /negative/);
    assert.throws(() => toMinorUnits('29.99', 'USD'), /must be a number/);
  });
});

function seedDoc(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    _id: '65f0a1b2c3d4e5f601000001',
    user_id: 'u1',
    shop_id: 's1',
    plan_name: 'basic',
    plan_display_name: 'Basic Plan',
    allocated_tokens: 100000,
    monthly_fee: 9.99,
    currency: 'USD',
    billing_cycle: 'monthly',
    subscription_start_date: new Date('2026-01-15T09:30:00Z'),
    current_period_start: new Date('2026-02-14T09:30:00Z'),
    current_period_end: new Date('2026-03-16T09:30:00Z'),
    next_billing_date: new Date('2026-03-16T09:30:00Z'),
    status: 'active',
    plan_history: [],
    ...overrides,
  };
}

function seed(overrides: Record<string, unknown> = {}): SeedSubscription {
  const read = readSubscription(seedDoc(overrides), 1);
  assert.ok(read.ok, read.ok ? '' : read.reason);
  return read.record;
}

describe('reading seed documents', () => {
  it('reads a subscription and lists unknown fields', () => {
    const read = readSubscription(seedDoc({ coupon: 'X', __v: 0 }), 3);
    assert.ok(read.ok);
    assert.deepEqual(read.unknownFields, ['coupon', '__v']);
    assert.equal(read.record.plan.price_minor, 999);
    assert.equal(read.record.current_period_end, at('2026-03-16T09:30:00Z'));
  });

  it('takes naive seed datetimes as UTC', () => {
    assert.equal(seed({ current_period_start: '2026-02-14T09:30:00' }).current_period_start, at('2026-02-14T09:30:00Z'));
  });

  it('says why a subscription cannot be imported', () => {
    const reason = (o: Record<string, unknown>) => {
      const read = readSubscription(seedDoc(o), 1);
      return read.ok ? 'ok' : read.reason;
    };
    assert.equal(reason({ allocated_tokens: -5 }), 'allocated_tokens must be an integer from 0 to 10^12, got -5');
    assert.equal(reason({ billing_cycle: 'weekly' }), 'billing_cycle "weekly" is neither monthly nor yearly');
    assert.equal(reason({ user_id: 'has space' }), 'user_id "has space" is not 1–128 characters of A-Za-z0-9._:@-');
    assert.equal(reason({ status: 'paused' }), 'status "paused" is unknown');
    assert.equal(reason({ monthly_fee: undefined }), 'monthly_fee is missing');
    assert.equal(reason({ current_period_end: new Date('2026-02-01T00:00:00Z') }), 'current_period_end is not after current_period_start');
    assert.equal(reason({ _id: undefined }), '_id is missing');
  });

  it('keeps the good plan history entries and says which it left out', () => {
    const s = seed({
      plan_history: [
        { plan: 'free', tokens: 0, fee: 0, start_date: new Date('2026-01-01T00:00:00Z'), end_date: new Date('2026-01-15T09:30:00Z'), change_reason: 'upgrade' },
        { plan: 'pro', tokens: 'many', fee: 29.99, start_date: new Date('2026-01-01T00:00:00Z'), end_date: new Date('2026-01-02T00:00:00Z') },
      ],
    });
    assert.equal(s.plan_history.length, 1);
    assert.deepEqual(s.dropped_history, ['plan_history[1]: tokens must be an integer from 0 to 10^12, got "many"']);
  });

  it('sums usage per day and splits off days outside the period', () => {
    const read = readUsage(
      {
        user_id: 'u1', shop_id: 's1', subscription_id: '65F0A1B2C3D4E5F601000001', used_tokens: 900,
        daily_usage: [
          { date: '2026-02-13', tokens: 100, queries: 1 },
          { date: '2026-02-14', tokens: 300, queries: 2 },
          { date: new Date('2026-02-14T20:00:00Z'), tokens: 200, queries: 1 },
          { date: '2026-03-16', tokens: 300, queries: 1 },
        ],
      },
      1,
    );
    assert.ok(read.ok);
    assert.equal(read.record.subscription_id, '65f0a1b2c3d4e5f601000001');
    const days = periodDays(read.record.daily, at('2026-02-14T09:30:00Z'), at('2026-03-16T09:30:00Z'));
    assert.deepEqual(days.inside, [
      { date: '2026-02-14', tokens: 500, queries: 3 },
      { date: '2026-03-16', tokens: 300, queries: 1 },
    ]);
    assert.deepEqual(days.outside, [{ date: '2026-02-13', tokens: 100, queries: 1 }]);
  });
});

describe('plans from the seed', () => {
  const existing: Plan = {
    id: 'enterprise', display_name: 'Enterprise', allocated_tokens: 2_000_000, price_minor: 9999, currency: 'USD',
    billing_cycle: 'monthly', allowance_interval: 'month', tier: 7, archived: false, created_at: 0,
  };

  it('makes one plan per distinct terms, numbering a reused name, ranking tiers by allowance', () => {
    const subs = [
      seed({ plan_name: 'pro', allocated_tokens: 400000, monthly_fee: 29.99 }),
      seed({ plan_name: 'basic' }),
      seed({ plan_name: 'pro', allocated_tokens: 400000, monthly_fee: 299.9, billing_cycle: 'yearly' }),
      seed({ plan_name: 'enterprise', allocated_tokens: 2000000, monthly_fee: 99.99 }),
      seed({ plan_name: 'pro', allocated_tokens: 400000, monthly_fee: 29.99 }),
      seed({ plan_name: 'Team Plan!', allocated_tokens: 800000, monthly_fee: 49 }),
    ];
    const plans = assignPlans(subs, [existing], 0);
    assert.deepEqual(
      plans.created.map((p) => [p.id, p.tier, p.price_minor, p.billing_cycle, p.allowance_interval]),
      [
        ['pro', 2, 2999, 'monthly', 'month'],
        ['basic', 1, 999, 'monthly', 'month'],
        ['pro-2', 2, 29990, 'yearly', 'year'], // the seed's yearly allowance stays yearly
        ['Team-Plan', 3, 4900, 'monthly', 'month'],
      ],
    );
    assert.deepEqual(plans.reused, ['enterprise']);
    assert.deepEqual(plans.renamed.map((r) => [r.plan_name, r.plan_id]), [['pro', 'pro-2'], ['Team Plan!', 'Team-Plan']]);
    assert.equal(plans.idFor(subs[4]!.plan), 'pro');
    assert.equal(plans.historyId('pro', 400000, 29990), 'pro-2');
    assert.equal(plans.historyId('starter', 1000, 0), 'starter');
  });

  it('does not take an id whose existing plan has other terms', () => {
    const plans = assignPlans([seed({ plan_name: 'enterprise', allocated_tokens: 1000000, monthly_fee: 49.99 })], [existing], 0);
    assert.deepEqual(plans.created.map((p) => p.id), ['enterprise-2']);
  });
});

describe('an imported subscription', () => {
  const s = seed({ next_billing_date: new Date('2026-03-16T09:30:00Z') });
  const plan = assignPlans([s], [], 0).created[0]!;
  const sub = importedSubscription(s, plan, null, at('2026-03-10T12:00:00Z'));

  it('keeps the seed period exactly and bills on the seed date', () => {
    assert.equal(sub.current_period_start, at('2026-02-14T09:30:00Z'));
    assert.equal(sub.current_period_end, at('2026-03-16T09:30:00Z')); // the seed's 30-day month
    assert.equal(nextBillingDate(sub), at('2026-03-16T09:30:00Z'));
  });

  it('follows the calendar from the next period on', () => {
    const first = rollOnce(sub, undefined, 0).next;
    assert.equal(first.current_period_start, at('2026-03-16T09:30:00Z'));
    assert.equal(first.current_period_end, at('2026-04-16T09:30:00Z'));
    assert.equal(nextBillingDate(first), at('2026-04-16T09:30:00Z'));
    const second = rollOnce(first, undefined, 0).next;
    assert.equal(second.current_period_end, addIntervals(at('2026-03-16T09:30:00Z'), 'month', 2));
  });

  it('has the same id on every run', () => {
    assert.equal(importedSubscription(s, plan, null, 0).id, sub.id);
    assert.match(sub.id, /^sub_[0-9a-z]{26}$/);
    assert.notEqual(importedSubscription(seed({ _id: '65f0a1b2c3d4e5f601000002' }), plan, null, 0).id, sub.id);
  });
});
