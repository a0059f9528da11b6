/**
 * Closing an allowance period: a pure step from one period to the next.
 * The service applies it with a guarded write and repeats it for every
 * period that ended, so each missed period keeps its own summary.
 */
import type { Plan, PeriodSummary, PlanTenure, Subscription } from './model.ts';
import { addIntervals, nextBoundaryAfter } from './periods.ts';

export interface RolloverStep {
  summary: PeriodSummary;
  next: Subscription;
  tenure: PlanTenure | null;
}

export function isDue(sub: Subscription, now: number): boolean {
  return sub.status !== 'canceled' && now >= sub.current_period_end;
}

/** The step that closes `sub`'s current period. `pendingPlan` is the plan named by `pending_plan_id`, if any. */
export function rollOnce(sub: Subscription, pendingPlan: Plan | undefined, peakDailyTokens: number): RolloverStep {
  const boundary = sub.current_period_end;
  const summary: PeriodSummary = {
    subscription_id: sub.id,
    period_start: sub.current_period_start,
    period_end: boundary,
    plan_id: sub.plan_id,
    allocated_tokens: sub.allocated_tokens,
    used_tokens: sub.used_tokens,
    queries: sub.queries,
    peak_daily_tokens: peakDailyTokens,
  };
  const reset = { used_tokens: 0, queries: 0, updated_at: boundary };
  // What was canceled or changed for the period end waits for the billing period's end: the rest was paid for.
  const billingEnds = boundary >= billingPeriodEnd(sub);

  // A canceled subscription keeps its final period and counters, as canceling at once does: it stays readable as it ended.
  if (sub.cancel_at_period_end && billingEnds) {
    return { summary, tenure: null, next: { ...sub, status: 'canceled', canceled_at: boundary, pending_plan_id: null, updated_at: boundary } };
  }

  if (pendingPlan && billingEnds) {
    const tenure: PlanTenure = {
      plan_id: sub.plan_id,
      allocated_tokens: sub.allocated_tokens,
      price_minor: sub.price_minor,
      start_date: sub.plan_started_at,
      end_date: boundary,
      change_reason: 'scheduled_change',
    };
    const intervalChanges =
      pendingPlan.allowance_interval !== sub.allowance_interval || pendingPlan.billing_cycle !== sub.billing_cycle;
    const periodAnchor = intervalChanges ? boundary : sub.period_anchor;
    const periodIndex = intervalChanges ? 0 : sub.period_index + 1;
    return {
      summary,
      tenure,
      next: {
        ...sub,
        ...reset,
        plan_id: pendingPlan.id,
        plan_display_name: pendingPlan.display_name,
        billing_cycle: pendingPlan.billing_cycle,
        allowance_interval: pendingPlan.allowance_interval,
        allocated_tokens: pendingPlan.allocated_tokens,
        price_minor: pendingPlan.price_minor,
        currency: pendingPlan.currency,
        plan_started_at: boundary,
        pending_plan_id: null,
        period_anchor: periodAnchor,
        period_index: periodIndex,
        billing_anchor: intervalChanges ? boundary : sub.billing_anchor,
        current_period_start: boundary,
        current_period_end: addIntervals(periodAnchor, pendingPlan.allowance_interval, periodIndex + 1),
      },
    };
  }

  const periodIndex = sub.period_index + 1;
  return {
    summary,
    tenure: null,
    next: {
      ...sub,
      ...reset,
      period_index: periodIndex,
      current_period_start: boundary,
      current_period_end: addIntervals(sub.period_anchor, sub.allowance_interval, periodIndex + 1),
    },
  };
}

/**
 * The next billing date: the first billing boundary after the current period
 * starts. An anchor still ahead of the period (an imported subscription's
 * next billing date) is itself that boundary.
 */
export function nextBillingDate(sub: Pick<Subscription, 'billing_anchor' | 'billing_cycle' | 'current_period_start'>): number {
  if (sub.billing_anchor > sub.current_period_start) return sub.billing_anchor;
  return nextBoundaryAfter(sub.billing_anchor, sub.billing_cycle === 'yearly' ? 'year' : 'month', sub.current_period_start);
}

/**
 * Where the billing period ends for what waits on it (cancel at period end, a
 * `period_end` plan change): the first allowance period end on or after the
 * next billing date. The boundaries line up, so that is the billing date
 * itself, except for an imported subscription whose billing date falls inside
 * an allowance period: then that period runs to its end.
 */
export function billingPeriodEnd(sub: Subscription): number {
  const billing = nextBillingDate(sub);
  let end = sub.current_period_end;
  for (let k = sub.period_index + 2; end < billing; k++) end = addIntervals(sub.period_anchor, sub.allowance_interval, k);
  return end;
}
