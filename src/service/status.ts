/** The status report (SPEC §7): the subscription, its analytics, alerts and advice. */
import { computeStatus, type PlanSummary } from '../domain/analytics.ts';
import { DAY_MS, isoDay, startOfDay } from '../domain/clock.ts';
import { AllotError } from '../domain/errors.ts';
import type { Plan, Subscription } from '../domain/model.ts';
import { billingPeriodEnd } from '../domain/rollover.ts';
import { allPlans, planHistory } from '../store/subscriptions.ts';
import { dailyUsageRange, periodDailyUsage } from '../store/usage.ts';
import { modelUsageRange, periodModelUsage, type ModelUsage } from '../store/models.ts';
import type { Queryable } from '../store/db.ts';
import type { Services } from './context.ts';
import type { Scope } from './scope.ts';
import { currentSubscription, neverSubscribed } from './subscriptions.ts';
import { subscriptionView, tenureView } from './views.ts';

const summary = (p: Plan): PlanSummary => ({
  id: p.id, display_name: p.display_name, tier: p.tier, allocated_tokens: p.allocated_tokens, archived: p.archived,
});

/**
 * The instant a status report is computed at. A live subscription's is now. A
 * canceled subscription stays readable (SPEC §4) with its final period and
 * counters as they ended: its report is as of that period's last instant, so
 * no day of it remains and nothing is billed next.
 */
function reportedAt(sub: Subscription, now: number): number {
  if (sub.status !== 'canceled') return now;
  return Math.max(sub.current_period_start, Math.min(now, sub.current_period_end - 1));
}

/**
 * What the next bill charges: nothing when the subscription ends first, the
 * pending plan's price (in its currency) when one applies at the period end,
 * before that bill.
 */
function nextBill(sub: Subscription, plans: readonly Plan[]): { next_billing_amount_minor: number; next_billing_currency: string } {
  const pending = sub.pending_plan_id === null ? undefined : plans.find((p) => p.id === sub.pending_plan_id);
  const ends = sub.status === 'canceled' || sub.cancel_at_period_end;
  return {
    next_billing_amount_minor: ends ? 0 : (pending?.price_minor ?? sub.price_minor),
    next_billing_currency: !ends && pending ? pending.currency : sub.currency,
  };
}

/** The status of the subscription `…/{shop_id}/{user_id}` names: the live one, else the latest canceled one. */
export async function subscriptionStatus(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  includeHistory: boolean,
) {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const sub = await currentSubscription(unit, shop, userId);
    if (!sub) throw neverSubscribed(shopId, userId);
    const [daily, plans, byModel] = await Promise.all([
      periodDailyUsage(unit.q, sub.id, sub.current_period_start), allPlans(unit.q), periodModelUsage(unit.q, sub.id, sub.current_period_start),
    ]);
    const current = plans.find((p) => p.id === sub.plan_id);
    const analytics = computeStatus({
      now: reportedAt(sub, unit.now),
      periodStart: sub.current_period_start,
      periodEnd: sub.current_period_end,
      billingPeriodEnd: sub.status === 'canceled' ? sub.current_period_end : billingPeriodEnd(sub),
      allocated: sub.allocated_tokens,
      used: sub.used_tokens,
      reserved: sub.reserved_tokens,
      status: sub.status,
      cancelAtPeriodEnd: sub.cancel_at_period_end,
      daily,
      queries: sub.queries,
      currentPlan: current
        ? summary(current)
        : { id: sub.plan_id, display_name: sub.plan_display_name, tier: 0, allocated_tokens: sub.allocated_tokens, archived: true },
      plans: plans.map(summary),
      highTokensPerQuery: services.rules.highTokensPerQuery,
    });
    const history = includeHistory ? await planHistory(unit.q, sub.id) : undefined;
    // Members added to the view in place: on Node 20, a literal that starts with a spread adds each further member slowly.
    return Object.assign(subscriptionView(sub), {
      subscription_id: sub.id,
      current_usage: sub.used_tokens,
      remaining_tokens: analytics.remaining_tokens,
      usage_percentage: analytics.usage_percentage,
      days_remaining_in_period: analytics.days_remaining_in_period,
      ...nextBill(sub, plans),
      avg_daily_usage: analytics.avg_daily_usage,
      projected_usage: analytics.projected_usage,
      projected_exhaustion_date: analytics.projected_exhaustion_date,
      usage_trend: analytics.usage_trend,
      alerts: analytics.alerts,
      recommendations: analytics.recommendations,
      usage_by_model: byModel.map(modelUsageView),
      ...(history && { usage_history: analytics.usage_history, plan_history: history.map(tenureView) }),
    });
  });
}

const MAX_DAILY_RANGE = 1000;

/** A rollup's sums as numbers (PostgreSQL answers SUM of BIGINT as NUMERIC). */
function modelUsageView(row: ModelUsage): ModelUsage {
  return {
    model: row.model, events: Number(row.events), input_tokens: Number(row.input_tokens),
    cached_input_tokens: Number(row.cached_input_tokens), output_tokens: Number(row.output_tokens), tokens: Number(row.tokens),
  };
}

/** The longest allowance period (a leap year) and a day to spare: a period starts at most this long before a day it holds. */
const LONGEST_PERIOD_MS = 367 * DAY_MS;

/**
 * Usage per model of the subscription `…/{shop_id}/{user_id}` names, over
 * days `from` to `to` (defaults as for the daily series), from the by-model
 * rollup: only the periods that can hold those days are read.
 */
export async function usageByModel(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  range: { from?: string; to?: string },
) {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const sub = await currentSubscription(unit, shop, userId);
    if (!sub) throw neverSubscribed(shopId, userId);
    const to = range.to ?? isoDay(await lastDay(unit.q, sub, unit.now));
    const last = Date.parse(`${to}T00:00:00Z`);
    const from = range.from ?? isoDay(Math.max(startOfDay(sub.current_period_start), last - (MAX_DAILY_RANGE - 1) * DAY_MS));
    const first = Date.parse(`${from}T00:00:00Z`);
    checkRange(first, last);
    const rows = await modelUsageRange(unit.q, sub.id, {
      from, to, firstPeriodStart: first - LONGEST_PERIOD_MS, lastPeriodStart: last + DAY_MS - 1,
    });
    return { shop_id: shopId, user_id: userId, from, to, data: rows.map(modelUsageView) };
  });
}

function checkRange(first: number, last: number): void {
  if (last < first) {
    throw new AllotError('validation_error', '`from` must not be after `to`.', { errors: [{ path: 'from', message: 'must be on or before to' }] });
  }
  if ((last - first) / DAY_MS >= MAX_DAILY_RANGE) {
    throw new AllotError('validation_error', `At most ${MAX_DAILY_RANGE} days per request.`, { errors: [{ path: 'to', message: `range longer than ${MAX_DAILY_RANGE} days` }] });
  }
}

/**
 * Where a daily series ends by default: today, or for a canceled subscription
 * the last day of its final period (or of a commit that came after it), so
 * its final days stay in the default range however long ago it ended.
 */
async function lastDay(q: Queryable, sub: Subscription, now: number): Promise<number> {
  if (sub.status !== 'canceled') return now;
  const lastRollup = (await periodDailyUsage(q, sub.id, sub.current_period_start)).at(-1)?.date;
  return Math.max(reportedAt(sub, now), lastRollup ? Date.parse(`${lastRollup}T00:00:00Z`) : 0);
}

/**
 * The daily series of the subscription `…/{shop_id}/{user_id}` names (the
 * live one, else the latest canceled one), never of the user's earlier ones.
 * `to` defaults to today, `from` to the first day of its current (for a
 * canceled one, final) period, within the longest range served.
 */
export async function dailySeries(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  range: { from?: string; to?: string },
) {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const sub = await currentSubscription(unit, shop, userId);
    if (!sub) throw neverSubscribed(shopId, userId);
    const to = range.to ?? isoDay(await lastDay(unit.q, sub, unit.now));
    const last = Date.parse(`${to}T00:00:00Z`);
    const from = range.from ?? isoDay(Math.max(startOfDay(sub.current_period_start), last - (MAX_DAILY_RANGE - 1) * DAY_MS));
    const first = Date.parse(`${from}T00:00:00Z`);
    checkRange(first, last);
    const rows = await dailyUsageRange(unit.q, sub.id, from, to);
    const byDay = new Map(rows.map((r) => [r.date, r]));
    const data = [];
    for (let day = first; day <= last; day += DAY_MS) {
      const date = isoDay(day);
      const row = byDay.get(date);
      data.push({ date, tokens: Number(row?.tokens ?? 0), queries: Number(row?.queries ?? 0) });
    }
    return { shop_id: shopId, user_id: userId, from, to, data };
  });
}
