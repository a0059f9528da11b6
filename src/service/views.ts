/** How allot's records look to clients: ISO instants, derived quota fields. */
import { isoDay, isoInstant } from '../domain/clock.ts';
import { remainingTokens, usagePercentage } from '../domain/analytics.ts';
import type { Plan, PeriodSummary, PlanTenure, Subscription } from '../domain/model.ts';
import { nextBillingDate } from '../domain/rollover.ts';
import type { ReservationRow, UsageEventRow } from '../store/usage.ts';
import { weightsView } from './models.ts';
import { storedWeights } from './usage.ts';

export function planView(plan: Plan) {
  return {
    id: plan.id,
    display_name: plan.display_name,
    allocated_tokens: plan.allocated_tokens,
    price_minor: plan.price_minor,
    currency: plan.currency,
    billing_cycle: plan.billing_cycle,
    allowance_interval: plan.allowance_interval,
    tier: plan.tier,
    archived: plan.archived,
    created_at: isoInstant(plan.created_at),
  };
}

export type PlanView = ReturnType<typeof planView>;

export function subscriptionView(sub: Subscription) {
  return {
    id: sub.id,
    shop_id: sub.shop_id,
    user_id: sub.user_id,
    plan_id: sub.plan_id,
    plan_display_name: sub.plan_display_name,
    status: sub.status,
    billing_cycle: sub.billing_cycle,
    allowance_interval: sub.allowance_interval,
    allocated_tokens: sub.allocated_tokens,
    price_minor: sub.price_minor,
    currency: sub.currency,
    started_at: isoInstant(sub.started_at),
    current_period_start: isoInstant(sub.current_period_start),
    current_period_end: isoInstant(sub.current_period_end),
    next_billing_date: sub.status === 'canceled' ? null : isoInstant(nextBillingDate(sub)),
    cancel_at_period_end: sub.cancel_at_period_end,
    canceled_at: sub.canceled_at === null ? null : isoInstant(sub.canceled_at),
    pending_plan_id: sub.pending_plan_id,
    used_tokens: sub.used_tokens,
    reserved_tokens: sub.reserved_tokens,
    remaining_tokens: remainingTokens(sub.allocated_tokens, sub.used_tokens, sub.reserved_tokens),
    usage_percentage: usagePercentage(sub.used_tokens, sub.allocated_tokens),
  };
}

export type SubscriptionView = ReturnType<typeof subscriptionView>;

export function tenureView(t: PlanTenure) {
  return { ...t, start_date: isoInstant(t.start_date), end_date: isoInstant(t.end_date) };
}

export function periodSummaryView(p: PeriodSummary) {
  return { ...p, period_start: isoInstant(p.period_start), period_end: isoInstant(p.period_end) };
}

/** A stored event; `cached_input_tokens` and `weights` appear only on events that gave or used them. */
export function usageEventView(e: UsageEventRow) {
  const weights = storedWeights(e);
  return {
    ...(e.cached_input_tokens !== null && { cached_input_tokens: e.cached_input_tokens }),
    ...(weights && { weights: weightsView(weights) }),
    event_id: e.event_id,
    shop_id: e.shop_id,
    user_id: e.user_id,
    subscription_id: e.subscription_id,
    tokens: e.tokens,
    input_tokens: e.input_tokens,
    output_tokens: e.output_tokens,
    model: e.model,
    enforce: e.enforce === 1,
    reservation_id: e.reservation_id,
    day: e.day,
    created_at: isoInstant(e.created_at),
  };
}

export function reservationView(r: ReservationRow, remaining: number) {
  return {
    id: r.id,
    shop_id: r.shop_id,
    user_id: r.user_id,
    subscription_id: r.subscription_id,
    status: r.status,
    tokens: r.tokens,
    expires_at: isoInstant(r.expires_at),
    created_at: isoInstant(r.created_at),
    committed_tokens: r.committed_tokens,
    event_id: r.event_id,
    remaining_tokens: remaining,
  };
}

export { isoDay, isoInstant };
