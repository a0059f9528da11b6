/** The status report (SPEC §7): the subscription, its analytics, alerts and advice. */
import { computeStatus, type PlanSummary } from '../domain/analytics.ts';
import { DAY_MS, isoDay } from '../domain/clock.ts';
import { AllotError } from '../domain/errors.ts';
import type { Plan } from '../domain/model.ts';
import { allPlans, findLatestSubscription, findLiveSubscription, planHistory } from '../store/subscriptions.ts';
import { dailyUsageRange, periodDailyUsage } from '../store/usage.ts';
import type { Services } from './context.ts';
import { bringUpToDate } from './lifecycle.ts';
import type { Scope } from './scope.ts';
import { subscriptionView, tenureView } from './views.ts';

const summary = (p: Plan): PlanSummary => ({
  id: p.id, display_name: p.display_name, tier: p.tier, allocated_tokens: p.allocated_tokens, archived: p.archived,
});

export async function subscriptionStatus(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  includeHistory: boolean,
) {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const found = await findLiveSubscription(unit.q, shop, userId);
    const sub = found && (await bringUpToDate(unit, found));
    if (!sub || sub.status === 'canceled') {
      throw new AllotError('subscription_not_found', `No live subscription for user ${userId} in shop ${shopId}.`);
    }
    const [daily, plans] = await Promise.all([periodDailyUsage(unit.q, sub.id, sub.current_period_start), allPlans(unit.q)]);
    const current = plans.find((p) => p.id === sub.plan_id);
    const analytics = computeStatus({
      now: unit.now,
      periodStart: sub.current_period_start,
      periodEnd: sub.current_period_end,
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
    const view = subscriptionView(sub);
    const status = {
      ...view,
      subscription_id: sub.id,
      current_usage: sub.used_tokens,
      remaining_tokens: analytics.remaining_tokens,
      usage_percentage: analytics.usage_percentage,
      days_remaining_in_period: analytics.days_remaining_in_period,
      next_billing_amount_minor: sub.price_minor,
      avg_daily_usage: analytics.avg_daily_usage,
      projected_usage: analytics.projected_usage,
      projected_exhaustion_date: analytics.projected_exhaustion_date,
      usage_trend: analytics.usage_trend,
      alerts: analytics.alerts,
      recommendations: analytics.recommendations,
    };
    if (!includeHistory) return status;
    const history = await planHistory(unit.q, sub.id);
    return { ...status, usage_history: analytics.usage_history, plan_history: history.map(tenureView) };
  });
}

const MAX_DAILY_RANGE = 1000;

export async function dailySeries(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  range: { from?: string; to?: string },
) {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const found = await findLiveSubscription(unit.q, shop, userId);
    const sub = found && (await bringUpToDate(unit, found));
    if (!found && !(await findLatestSubscription(unit.q, shop, userId))) {
      throw new AllotError('subscription_not_found', `User ${userId} has no subscription in shop ${shopId}.`);
    }
    const to = range.to ?? isoDay(unit.now);
    const from = range.from ?? (sub ? isoDay(sub.current_period_start) : to);
    const first = Date.parse(`${from}T00:00:00Z`);
    const last = Date.parse(`${to}T00:00:00Z`);
    if (last < first) {
      throw new AllotError('validation_error', '`from` must not be after `to`.', { errors: [{ path: 'from', message: 'must be on or before to' }] });
    }
    if ((last - first) / DAY_MS >= MAX_DAILY_RANGE) {
      throw new AllotError('validation_error', `At most ${MAX_DAILY_RANGE} days per request.`, { errors: [{ path: 'to', message: `range longer than ${MAX_DAILY_RANGE} days` }] });
    }
    const rows = await dailyUsageRange(unit.q, shop, userId, from, to);
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
