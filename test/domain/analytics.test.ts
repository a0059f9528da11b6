import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeStatus,
  nextTierPlan,
  remainingTokens,
  usagePercentage,
  type DailyPoint,
  type PlanSummary,
  type StatusInput,
} from '../../src/domain/analytics.ts';

const at = (iso: string): number => Date.parse(iso);

const basic: PlanSummary = { id: 'basic', display_name: 'Basic', tier: 1, allocated_tokens: 10_000, archived: false };
const pro: PlanSummary = { id: 'pro', display_name: 'Pro', tier: 2, allocated_tokens: 40_000, archived: false };
const enterprise: PlanSummary = {
  id: 'enterprise',
  display_name: 'Enterprise',
  tier: 3,
  allocated_tokens: 200_000,
  archived: false,
};

/** A March period (00:00Z → 00:00Z) on Basic, nothing used. */
function status(overrides: Partial<StatusInput>): StatusInput {
  return {
    now: at('2025-03-10T15:00:00.000Z'),
    periodStart: at('2025-03-01T00:00:00.000Z'),
    periodEnd: at('2025-04-01T00:00:00.000Z'),
    billingPeriodEnd: overrides.periodEnd ?? at('2025-04-01T00:00:00.000Z'),
    allocated: 10_000,
    used: 0,
    reserved: 0,
    status: 'active',
    cancelAtPeriodEnd: false,
    daily: [],
    queries: 0,
    currentPlan: basic,
    plans: [basic, pro, enterprise],
    highTokensPerQuery: 300,
    ...overrides,
  };
}

const day = (date: string, tokens: number, queries = 0): DailyPoint => ({ date, tokens, queries });
const codes = (items: { code: string }[]): string[] => items.map((item) => item.code);

describe('remainingTokens and usagePercentage', () => {
  it('subtracts usage and holds, never below 0', () => {
    assert.equal(remainingTokens(1000, 300, 200), 500);
    assert.equal(remainingTokens(1000, 900, 200), 0);
    assert.equal(remainingTokens(0, 0, 0), 0);
  });

  it('rounds to 2 decimals, may exceed 100, is 0 without allowance', () => {
    assert.equal(usagePercentage(925, 1000), 92.5);
    assert.equal(usagePercentage(1, 3), 33.33); // 33.333…
    assert.equal(usagePercentage(2, 3), 66.67); // 66.666…
    assert.equal(usagePercentage(1500, 1000), 150);
    assert.equal(usagePercentage(50, 0), 0);
  });
});

describe('computeStatus: a mid-period subscription', () => {
  // d = 03-01 … 03-10 = 10 days.
  const result = computeStatus(
    status({
      allocated: 100_000,
      currentPlan: { ...basic, allocated_tokens: 100_000 },
      used: 7200, // 1000 + 2000 + 700 + 1400 + 2100
      reserved: 300,
      queries: 40,
      // unordered and sparse on purpose
      daily: [day('2025-03-10', 2100, 10), day('2025-03-02', 1000, 5), day('2025-03-08', 700, 5), day('2025-03-05', 2000, 10), day('2025-03-09', 1400, 10)],
    }),
  );

  it('counts remaining tokens and usage', () => {
    assert.equal(result.remaining_tokens, 92_500); // 100000 − 7200 − 300
    assert.equal(result.usage_percentage, 7.2); // 100 · 7200 / 100000
  });

  it('counts whole days to the period end', () => {
    // 2025-04-01T00:00 − 2025-03-10T15:00 = 21 d 9 h → 21
    assert.equal(result.days_remaining_in_period, 21);
  });

  it('averages the last 7 days, empty days included', () => {
    // 03-04 … 03-10: (0 + 2000 + 0 + 0 + 700 + 1400 + 2100) / 7 = 6200 / 7 = 885.714… → 885.71
    assert.equal(result.avg_daily_usage, 885.71);
    // round(7200 + 885.71 · 21) = round(25799.91) = 25800
    assert.equal(result.projected_usage, 25_800);
  });

  it('has no exhaustion date when the allowance outlasts the period', () => {
    // ceil(92500 / 885.71) = 105 days from 03-10 → after 04-01
    assert.equal(result.projected_exhaustion_date, null);
  });

  it('sees the trend and recommends watching it', () => {
    // last 3 days 700 + 1400 + 2100 = 4200 vs 3 before 2000 + 0 + 0 = 2000; 4200 > 1.1 · 2000
    assert.equal(result.usage_trend, 'increasing');
    assert.deepEqual(codes(result.recommendations), ['usage_increasing']);
    assert.deepEqual(result.alerts, []);
  });

  it('zero-fills the history from the first day to today', () => {
    const { daily, total_queries, avg_tokens_per_query, peak_daily_usage } = result.usage_history;
    assert.deepEqual(
      daily.map((point) => point.date),
      ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10'].map((d) => `2025-03-${d}`),
    );
    assert.deepEqual(daily.map((point) => point.tokens), [0, 1000, 0, 0, 2000, 0, 0, 700, 1400, 2100]);
    assert.deepEqual(daily[1], { date: '2025-03-02', tokens: 1000, queries: 5 });
    assert.equal(total_queries, 40);
    assert.equal(avg_tokens_per_query, 180); // 7200 / 40
    assert.equal(peak_daily_usage, 2100);
  });
});

describe('computeStatus: averages over a young period', () => {
  it('divides by d when the period has fewer than 7 days', () => {
    // d = 03-01 … 03-04 = 4; (0 + 0 + 700 + 1400) / 4 = 525
    const result = computeStatus(
      status({ now: at('2025-03-04T08:00:00.000Z'), used: 2100, daily: [day('2025-03-03', 700), day('2025-03-04', 1400)] }),
    );
    assert.equal(result.avg_daily_usage, 525);
    assert.equal(result.usage_history.daily.length, 4);
    assert.equal(result.usage_trend, 'stable'); // d = 4 < 6
  });

  it('counts the partial first day of a period starting at 12:00 (d = 1)', () => {
    const result = computeStatus(
      status({
        now: at('2025-03-01T18:00:00.000Z'),
        periodStart: at('2025-03-01T12:00:00.000Z'),
        periodEnd: at('2025-04-01T12:00:00.000Z'),
        allocated: 100_000,
        used: 300,
        queries: 1,
        daily: [day('2025-03-01', 300, 1)],
      }),
    );
    assert.equal(result.avg_daily_usage, 300); // 300 / 1
    assert.equal(result.days_remaining_in_period, 30); // 04-01T12:00 − 03-01T18:00 = 31 d − 6 h = 30 d 18 h → 30
    assert.deepEqual(result.usage_history.daily, [{ date: '2025-03-01', tokens: 300, queries: 1 }]);
    assert.equal(result.usage_history.avg_tokens_per_query, 300); // 300 / 1, not above the threshold
    assert.deepEqual(codes(result.recommendations), []);
  });

  it('starts a period at 12:00 on its UTC day: the 7-day window is calendar days', () => {
    // period 03-01T12:00, today 03-09 → d = 9, window 03-03 … 03-09
    const result = computeStatus(
      status({
        now: at('2025-03-09T06:00:00.000Z'),
        periodStart: at('2025-03-01T12:00:00.000Z'),
        periodEnd: at('2025-04-01T12:00:00.000Z'),
        used: 1470,
        daily: [day('2025-03-02', 770), day('2025-03-03', 350), day('2025-03-09', 350)],
      }),
    );
    assert.equal(result.usage_history.daily.length, 9);
    assert.equal(result.avg_daily_usage, 100); // (350 + 0 + 0 + 0 + 0 + 0 + 350) / 7
  });
});

describe('computeStatus: projected exhaustion', () => {
  it('is the day the remaining tokens run out at the average', () => {
    // 03-14 … 03-20 at 500 a day: avg 3500 / 7 = 500; remaining 10000 − 8000 = 2000; ceil(2000 / 500) = 4 → 03-24
    const daily = [day('2025-03-01', 4500)];
    for (let d = 14; d <= 20; d++) daily.push(day(`2025-03-${d}`, 500));
    const result = computeStatus(status({ now: at('2025-03-20T10:00:00.000Z'), used: 8000, daily }));
    assert.equal(result.avg_daily_usage, 500);
    assert.equal(result.projected_exhaustion_date, '2025-03-24');
    // 04-01T00:00 − 03-20T10:00 = 11 d 14 h → 11; 8000 + 500 · 11 = 13500
    assert.equal(result.days_remaining_in_period, 11);
    assert.equal(result.projected_usage, 13_500);
    assert.equal(result.usage_trend, 'stable'); // 1500 vs 1500
  });

  it('rounds partial days up', () => {
    // avg 500, remaining 10000 − 8000 − 250 = 1750; ceil(3.5) = 4 → 03-24
    const daily = [day('2025-03-01', 4500)];
    for (let d = 14; d <= 20; d++) daily.push(day(`2025-03-${d}`, 500));
    const result = computeStatus(status({ now: at('2025-03-20T10:00:00.000Z'), used: 8000, reserved: 250, daily }));
    assert.equal(result.projected_exhaustion_date, '2025-03-24');
  });

  it('is null when that day starts at or after the period end', () => {
    // period ends 03-10T00:00; today 03-05; avg (7 · 100) / 7 = 100
    const daily = [27, 28, 1, 2, 3, 4, 5].map((d) => day(d > 5 ? `2025-02-${d}` : `2025-03-0${d}`, 100));
    const base = {
      now: at('2025-03-05T10:00:00.000Z'),
      periodStart: at('2025-02-10T00:00:00.000Z'),
      periodEnd: at('2025-03-10T00:00:00.000Z'),
      allocated: 10_000,
      daily,
    };
    // remaining 400 → 4 days → 03-09, before the end
    assert.equal(computeStatus(status({ ...base, used: 9600 })).projected_exhaustion_date, '2025-03-09');
    // remaining 500 → 5 days → 03-10T00:00 = the period end → null
    assert.equal(computeStatus(status({ ...base, used: 9500 })).projected_exhaustion_date, null);
    // with a 12:00 end, 03-10 itself still counts
    assert.equal(
      computeStatus(status({ ...base, used: 9500, periodEnd: at('2025-03-10T12:00:00.000Z') })).projected_exhaustion_date,
      '2025-03-10',
    );
  });

  it('is null without recent usage', () => {
    const result = computeStatus(status({ used: 5000, daily: [day('2025-03-01', 5000)] }));
    // 03-04 … 03-10 are all empty → avg 0
    assert.equal(result.avg_daily_usage, 0);
    assert.equal(result.projected_exhaustion_date, null);
    assert.equal(result.projected_usage, 5000);
  });
});

describe('computeStatus: usage above the allowance', () => {
  // period 03-01T12:00 → 04-01T12:00, today 03-03: d = 3
  const result = computeStatus(
    status({
      now: at('2025-03-03T09:00:00.000Z'),
      periodStart: at('2025-03-01T12:00:00.000Z'),
      periodEnd: at('2025-04-01T12:00:00.000Z'),
      allocated: 1000,
      used: 1500,
      reserved: 100,
      daily: [day('2025-03-01', 600), day('2025-03-03', 900)],
      currentPlan: { ...basic, allocated_tokens: 1000 },
    }),
  );

  it('reports more than 100 %, nothing remaining and exhaustion today', () => {
    assert.equal(result.usage_percentage, 150);
    assert.equal(result.remaining_tokens, 0);
    assert.equal(result.avg_daily_usage, 500); // (600 + 0 + 900) / 3
    assert.equal(result.projected_exhaustion_date, '2025-03-03');
    // 04-01T12:00 − 03-03T09:00 = 29 d 3 h → 29; 1500 + 500 · 29 = 16000
    assert.equal(result.projected_usage, 16_000);
  });

  it('alerts limit_reached and advises the next tier', () => {
    assert.deepEqual(result.alerts, [
      {
        type: 'error',
        code: 'limit_reached',
        message: "Limit reached: 150% of this period's tokens used",
        action: 'Upgrade your plan or wait for the next period',
      },
    ]);
    // 40000 / 1000 = 40
    assert.deepEqual(result.recommendations, [
      { code: 'upgrade', message: 'Consider upgrading to Pro for 40x more tokens', plan_id: 'pro' },
    ]);
  });
});

describe('computeStatus: an allowance of 0', () => {
  const free: PlanSummary = { id: 'free', display_name: 'Free', tier: 0, allocated_tokens: 0, archived: false };

  it('reports 0 % and 0 remaining without dividing by zero', () => {
    const result = computeStatus(status({ allocated: 0, currentPlan: free }));
    assert.equal(result.usage_percentage, 0);
    assert.equal(result.remaining_tokens, 0);
    assert.equal(result.avg_daily_usage, 0);
    assert.equal(result.projected_usage, 0);
    assert.equal(result.projected_exhaustion_date, null); // avg is 0
    assert.deepEqual(result.alerts, []);
    assert.deepEqual(result.recommendations, []);
  });

  it('treats any usage as over the limit and advises without a ratio', () => {
    const result = computeStatus(
      status({ allocated: 0, used: 70, currentPlan: free, daily: [day('2025-03-04', 70)] }),
    );
    assert.equal(result.usage_percentage, 0);
    assert.deepEqual(codes(result.alerts), ['limit_reached']);
    assert.equal(result.avg_daily_usage, 10); // 70 / 7
    assert.equal(result.projected_exhaustion_date, '2025-03-10'); // nothing remains → today
    assert.deepEqual(result.recommendations, [
      { code: 'upgrade', message: 'Consider upgrading to Basic for more tokens', plan_id: 'basic' },
    ]);
  });
});

describe('computeStatus: usage alerts', () => {
  const alertFor = (used: number) => computeStatus(status({ used, allocated: 100_000 })).alerts;

  it('picks the single highest threshold reached', () => {
    assert.deepEqual(alertFor(49_999), []);
    assert.deepEqual(codes(alertFor(50_000)), ['usage_moderate']);
    assert.deepEqual(codes(alertFor(74_999)), ['usage_moderate']);
    assert.deepEqual(codes(alertFor(75_000)), ['usage_high']);
    assert.deepEqual(codes(alertFor(90_000)), ['usage_critical']);
    assert.deepEqual(codes(alertFor(100_000)), ['limit_reached']);
  });

  it('compares exactly, not the rounded percentage', () => {
    // 99996 / 100000 = 99.996 % rounds to 100, but 4 tokens are left
    const alerts = alertFor(99_996);
    assert.deepEqual(codes(alerts), ['usage_critical']);
    assert.equal(alerts[0]?.message, "Critical: 100% of this period's tokens used");
  });

  it('writes the percentage into the message', () => {
    assert.deepEqual(alertFor(92_500), [
      {
        type: 'error',
        code: 'usage_critical',
        message: "Critical: 92.5% of this period's tokens used",
        action: 'Consider upgrading',
      },
    ]);
    assert.equal(alertFor(80_000)[0]?.type, 'warning');
    assert.equal(alertFor(60_000)[0]?.type, 'info');
  });
});

describe('computeStatus: lifecycle alerts', () => {
  const end = at('2025-04-01T00:00:00.000Z');

  it('announces the renewal from 3 days before the period end', () => {
    const fourDays = computeStatus(status({ now: end - 4 * 86_400_000 }));
    assert.equal(fourDays.days_remaining_in_period, 4);
    assert.deepEqual(fourDays.alerts, []);

    const threeDays = computeStatus(status({ now: end - 3 * 86_400_000 - 1 })); // 3 d + 1 ms → 3
    assert.deepEqual(threeDays.alerts, [
      {
        type: 'info',
        code: 'renewal_soon',
        message: 'Subscription renews in 3 days',
        action: 'Ensure your payment method is up to date',
      },
    ]);

    const lastHour = computeStatus(status({ now: end - 3_600_000 }));
    assert.equal(lastHour.days_remaining_in_period, 0);
    assert.equal(lastHour.alerts[0]?.message, 'Subscription renews within a day');
  });

  it('says ends_soon instead when canceling at period end', () => {
    const result = computeStatus(status({ now: end - 86_400_000, cancelAtPeriodEnd: true }));
    assert.deepEqual(codes(result.alerts), ['ends_soon']);
    assert.equal(result.alerts[0]?.message, 'Subscription ends in 1 day');
  });

  it('says nothing about renewal for a canceled subscription', () => {
    assert.deepEqual(computeStatus(status({ now: end - 86_400_000, status: 'canceled' })).alerts, []);
  });

  it('flags a suspended subscription alongside the other alerts', () => {
    const result = computeStatus(status({ now: end - 86_400_000, status: 'suspended', used: 9500 }));
    assert.deepEqual(codes(result.alerts), ['usage_critical', 'renewal_soon', 'subscription_suspended']);
    assert.equal(result.alerts[2]?.type, 'error');
  });

  it('billed yearly, refilled monthly: announces the billing date, not each monthly refill', () => {
    const billing = at('2025-12-01T00:00:00.000Z');
    assert.deepEqual(computeStatus(status({ now: end - 86_400_000, billingPeriodEnd: billing })).alerts, []);
    assert.deepEqual(computeStatus(status({ now: end - 86_400_000, billingPeriodEnd: billing, cancelAtPeriodEnd: true })).alerts, []);
    const december = { periodStart: at('2025-11-01T00:00:00.000Z'), periodEnd: billing, billingPeriodEnd: billing, now: billing - 86_400_000 };
    assert.deepEqual(codes(computeStatus(status(december)).alerts), ['renewal_soon']);
    assert.deepEqual(codes(computeStatus(status({ ...december, cancelAtPeriodEnd: true })).alerts), ['ends_soon']);
  });

  it('never counts negative days after the period end', () => {
    assert.equal(computeStatus(status({ now: end + 86_400_000 })).days_remaining_in_period, 0);
  });
});

describe('computeStatus: usage trend', () => {
  // d = 03-01 … 03-10; only the last 6 days matter
  const trendOf = (before: number, last: number, now = '2025-03-10T15:00:00.000Z') =>
    computeStatus(
      status({
        now: at(now),
        daily: [day('2025-03-05', before), day('2025-03-06', 0), day('2025-03-07', 0), day('2025-03-08', last)],
      }),
    ).usage_trend;

  it('is increasing above 1.1× the 3 days before', () => {
    // 03-05 … 03-07 = 1000; 03-08 … 03-10 = 1101 > 1100
    assert.equal(trendOf(1000, 1101), 'increasing');
    assert.equal(trendOf(0, 1), 'increasing'); // anything beats nothing
  });

  it('is stable at exactly 1.1× and 0.9×', () => {
    assert.equal(trendOf(1000, 1100), 'stable');
    assert.equal(trendOf(1000, 900), 'stable');
    assert.equal(trendOf(0, 0), 'stable');
  });

  it('is decreasing below 0.9×', () => {
    assert.equal(trendOf(1000, 899), 'decreasing');
  });

  it('needs 6 days of period', () => {
    // today 03-05 → d = 5: stable even though 03-05 jumped
    assert.equal(trendOf(5000, 0, '2025-03-05T23:00:00.000Z'), 'stable');
    // today 03-06 → d = 6: 03-01 … 03-03 = 0 vs 03-04 … 03-06 = 5000
    assert.equal(trendOf(5000, 0, '2025-03-06T01:00:00.000Z'), 'increasing');
  });
});

describe('computeStatus: upgrade advice', () => {
  it('triggers above 80 % used', () => {
    assert.deepEqual(codes(computeStatus(status({ used: 8000 })).recommendations), []); // exactly 80 %
    assert.deepEqual(computeStatus(status({ used: 8001 })).recommendations, [
      { code: 'upgrade', message: 'Consider upgrading to Pro for 4x more tokens', plan_id: 'pro' }, // 40000 / 10000
    ]);
  });

  it('triggers when the projection passes 90 % of the allowance', () => {
    // 03-04 … 03-10 at 100 a day: avg 100; 2000 + 100 · 21 = 4100 ≤ 9000 → none
    const daily = [4, 5, 6, 7, 8, 9].map((d) => day(`2025-03-0${d}`, 100)).concat(day('2025-03-10', 100));
    assert.deepEqual(codes(computeStatus(status({ used: 2000, daily })).recommendations), []);
    // at 400 a day: 5000 + 400 · 21 = 13400 > 9000
    const busy = daily.map((point) => ({ ...point, tokens: 400 }));
    const result = computeStatus(status({ used: 5000, daily: busy }));
    assert.equal(result.projected_usage, 13_400);
    assert.deepEqual(codes(result.recommendations), ['upgrade']);
  });

  it('says nothing on the top tier', () => {
    const result = computeStatus(status({ used: 190_000, allocated: 200_000, currentPlan: enterprise }));
    assert.deepEqual(result.recommendations, []);
  });

  it('rounds the ratio to at most one decimal', () => {
    const plus = { ...pro, id: 'pro_plus', display_name: 'Pro Plus', allocated_tokens: 25_400 };
    const result = computeStatus(status({ used: 9000, plans: [basic, plus, enterprise] }));
    // 25400 / 10000 = 2.54 → 2.5
    assert.equal(result.recommendations[0]?.message, 'Consider upgrading to Pro Plus for 2.5x more tokens');
  });
});

describe('computeStatus: alerts agree with the projection and the advice', () => {
  // 03-04 … 03-10 at 800 a day: avg 800, 21 days left
  const week = (tokens: number) => [4, 5, 6, 7, 8, 9, 10].map((d) => day(`2025-03-${String(d).padStart(2, '0')}`, tokens));
  const usageAlertOf = (result: ReturnType<typeof computeStatus>) => result.alerts.find((alert) => alert.code.startsWith('usage_'));

  it('says when the tokens run out before the period ends, and names the advised plan', () => {
    const result = computeStatus(status({ used: 5600, daily: week(800) }));
    assert.equal(result.usage_percentage, 56);
    assert.equal(result.projected_exhaustion_date, '2025-03-16'); // 03-10 + ceil(4400 / 800) = 6 days
    assert.equal(result.projected_usage, 22_400); // 5600 + 800 · 21
    assert.deepEqual(result.alerts, [
      {
        type: 'info',
        code: 'usage_moderate',
        message: "Moderate usage: 56% of this period's tokens used",
        action: 'At this pace the tokens run out on 2025-03-16, before the period ends: consider upgrading to Pro',
      },
    ]);
    assert.deepEqual(result.recommendations, [
      { code: 'upgrade', message: 'Consider upgrading to Pro for 4x more tokens', plan_id: 'pro' },
    ]);
    const high = computeStatus(status({ used: 7600, daily: week(800) }));
    assert.equal(usageAlertOf(high)?.code, 'usage_high');
    assert.equal(usageAlertOf(high)?.action, 'At this pace the tokens run out on 2025-03-13, before the period ends: consider upgrading to Pro');
  });

  it('says so without naming a plan when there is none to advise', () => {
    const result = computeStatus(status({ used: 5600, daily: week(800), plans: [basic] }));
    assert.deepEqual(result.recommendations, []);
    assert.equal(usageAlertOf(result)?.action, 'At this pace the tokens run out on 2025-03-16, before the period ends');
  });

  it('points at the advice when the projection alone earns it', () => {
    // 4200 on 03-01, then 200 a day: avg 200; 5600 + 200 · 21 = 9800 > 9000, and 4400 / 200 = 22 days reach the period end
    const result = computeStatus(status({ used: 5600, daily: [day('2025-03-01', 4200), ...week(200)] }));
    assert.equal(result.projected_exhaustion_date, null);
    assert.deepEqual(codes(result.recommendations), ['upgrade']);
    assert.equal(usageAlertOf(result)?.action, "At this pace 98% of the allowance is used by the period's end: consider upgrading to Pro");
  });

  it('keeps "on track" for a pace that lasts the period', () => {
    const result = computeStatus(status({ used: 5600, daily: [day('2025-03-01', 5600)] }));
    assert.deepEqual(result.recommendations, []);
    assert.equal(usageAlertOf(result)?.action, 'Usage is on track');
    assert.equal(usageAlertOf(computeStatus(status({ used: 7600, daily: [day('2025-03-01', 7600)] })))?.action, 'Monitor usage closely');
  });

  it('never calls a pace on track that runs out or earns upgrade advice', () => {
    for (const used of [5000, 6000, 7000, 7500, 8000, 8500]) {
      for (const perDay of [0, 50, 100, 150, 200, 300, 800]) {
        const result = computeStatus(status({ used, daily: week(perDay) }));
        const action = usageAlertOf(result)?.action ?? '';
        const advised = result.recommendations.find((r) => r.code === 'upgrade');
        const worried = advised !== undefined || result.projected_exhaustion_date !== null;
        assert.equal(action === 'Usage is on track' || action === 'Monitor usage closely', !worried, `${used} used, ${perDay} a day: ${action}`);
        if (advised && !action.startsWith('Consider upgrading')) assert.match(action, /consider upgrading to Pro$/);
      }
    }
  });
});

describe('nextTierPlan', () => {
  it('takes the lowest higher tier, the larger allowance on a tie, and skips archived plans', () => {
    const small = { ...pro, id: 'small', allocated_tokens: 20_000 };
    const big = { ...pro, id: 'big', allocated_tokens: 30_000 };
    const legacy = { ...pro, id: 'legacy', allocated_tokens: 90_000, archived: true };
    assert.equal(nextTierPlan(basic, [enterprise, small, legacy, basic, big])?.id, 'big');
    assert.equal(nextTierPlan(basic, [basic, legacy, enterprise])?.id, 'enterprise');
    assert.equal(nextTierPlan(enterprise, [basic, pro, enterprise]), null);
  });

  it('never advises a plan with no more tokens, whatever its tier', () => {
    const tiny = { ...enterprise, id: 'tiny', tier: 9, allocated_tokens: 5 };
    const same = { ...enterprise, id: 'same', tier: 8, allocated_tokens: pro.allocated_tokens };
    assert.equal(nextTierPlan(pro, [tiny, same]), null);
    assert.equal(nextTierPlan(pro, [tiny, same, enterprise])?.id, 'enterprise');
  });
});

describe('computeStatus: tokens per query', () => {
  it('advises when the average per query is above the threshold', () => {
    // 03-10: 3010 tokens / 10 queries = 301 > 300
    // a large allowance keeps upgrade advice out of the way
    const result = computeStatus(
      status({ allocated: 100_000, used: 3010, queries: 10, daily: [day('2025-03-10', 3010, 10)] }),
    );
    assert.equal(result.usage_history.avg_tokens_per_query, 301);
    assert.deepEqual(codes(result.recommendations), ['usage_increasing', 'high_tokens_per_query']);
  });

  it('uses the configured threshold and rounds to 2 decimals', () => {
    // 1000 / 3 = 333.33; threshold 400 → no advice
    const result = computeStatus(
      status({ used: 1000, queries: 3, highTokensPerQuery: 400, daily: [day('2025-03-02', 1000, 3)] }),
    );
    assert.equal(result.usage_history.avg_tokens_per_query, 333.33);
    assert.deepEqual(codes(result.recommendations), []);
  });

  it('is 0 without queries', () => {
    assert.equal(computeStatus(status({})).usage_history.avg_tokens_per_query, 0);
  });
});
