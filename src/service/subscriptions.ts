/** Creating, changing, canceling and reading subscriptions (SPEC §4, §5). */
import { AllotError } from '../domain/errors.ts';
import type { Plan, Subscription } from '../domain/model.ts';
import { addIntervals } from '../domain/periods.ts';
import { createdMessage, decidePlanChange, type ChangeAction, type ChangeWhen } from '../domain/plan-change.ts';
import {
  appendPlanTenure, findLatestSubscription, findLiveSubscription, findPlan, insertLiveSubscription, insertPeriodSummary,
  listPeriodSummaries, listSubscriptions, peakDailyTokens, writeSubscriptionState, type PeriodPosition,
} from '../store/subscriptions.ts';
import { RetryUnit, type Services, type Unit } from './context.ts';
import { newId } from './ids.ts';
import { rollDueSubscriptions } from './renewals.ts';
import { bringUpToDate, expireAllHolds, noLiveSubscription, requireLive } from './lifecycle.ts';
import type { Scope, ShopId } from './scope.ts';

export interface ChangeResult {
  subscription: Subscription;
  created: boolean;
  action_performed: ChangeAction;
  previous_plan_id: string | null;
  effective_date: number;
  message: string;
}

export function newSubscription(shop: string, userId: string, plan: Plan, now: number): Subscription {
  return {
    id: newId('sub', now),
    shop_id: shop,
    user_id: userId,
    plan_id: plan.id,
    plan_display_name: plan.display_name,
    status: 'active',
    billing_cycle: plan.billing_cycle,
    allowance_interval: plan.allowance_interval,
    allocated_tokens: plan.allocated_tokens,
    price_minor: plan.price_minor,
    currency: plan.currency,
    started_at: now,
    period_anchor: now,
    period_index: 0,
    current_period_start: now,
    current_period_end: addIntervals(now, plan.allowance_interval, 1),
    billing_anchor: now,
    plan_started_at: now,
    cancel_at_period_end: false,
    pending_plan_id: null,
    used_tokens: 0,
    reserved_tokens: 0,
    queries: 0,
    canceled_at: null,
    created_at: now,
    updated_at: now,
  };
}

async function liveLocked(unit: Unit, shop: ShopId, userId: string): Promise<Subscription | undefined> {
  const found = await findLiveSubscription(unit.q, shop, userId, unit.lock);
  if (!found) return undefined;
  const sub = await bringUpToDate(unit, found);
  return sub.status === 'canceled' ? undefined : sub;
}

async function requirePlan(unit: Unit, planId: string): Promise<Plan> {
  const plan = await findPlan(unit.q, planId);
  if (!plan) throw new AllotError('plan_not_found', `No plan ${planId}.`);
  return plan;
}

async function write(unit: Unit, from: Subscription, next: Subscription): Promise<void> {
  if (!(await writeSubscriptionState(unit.q, from, next))) throw new RetryUnit('subscription changed');
}

export async function putSubscription(
  services: Services,
  scope: Scope,
  input: { shop_id: string; user_id: string; plan_id: string; when?: ChangeWhen },
): Promise<ChangeResult> {
  const shop = scope.shop(input.shop_id);
  const when = input.when ?? 'now';
  return services.write(async (unit) => {
    const plan = await requirePlan(unit, input.plan_id);
    const current = await liveLocked(unit, shop, input.user_id);
    if (!current) {
      if (plan.archived) throw new AllotError('plan_archived', `Plan ${plan.id} is archived and takes no new subscriptions.`);
      const sub = newSubscription(shop, input.user_id, plan, unit.now);
      // A concurrent PUT created it first: run again and treat this one as a change.
      if (!(await insertLiveSubscription(unit.q, sub))) throw new RetryUnit('live subscription created concurrently');
      return { subscription: sub, created: true, action_performed: 'create', previous_plan_id: null, effective_date: unit.now, message: createdMessage(plan) };
    }
    const decision = decidePlanChange(current, plan, when, unit.now);
    const base: Subscription = { ...current, cancel_at_period_end: false, updated_at: unit.now };
    let next: Subscription;
    let effective = unit.now;
    if (decision.kind === 'none') {
      next = decision.clearPending || current.cancel_at_period_end ? { ...base, pending_plan_id: null } : current;
    } else if (decision.kind === 'now') {
      next = {
        ...base,
        plan_id: plan.id,
        plan_display_name: plan.display_name,
        allocated_tokens: plan.allocated_tokens,
        price_minor: plan.price_minor,
        currency: plan.currency,
        plan_started_at: unit.now,
        pending_plan_id: null,
      };
      await appendPlanTenure(unit.q, current.id, decision.tenure);
    } else {
      next = { ...base, pending_plan_id: plan.id };
      effective = decision.effective;
    }
    if (next !== current) await write(unit, current, next);
    return {
      subscription: next,
      created: false,
      action_performed: decision.action,
      previous_plan_id: current.plan_id,
      effective_date: effective,
      message: decision.message,
    };
  });
}

/**
 * The subscription `…/{shop_id}/{user_id}` names: the live one, brought up to
 * date (it may have just ended), else the latest canceled one.
 */
export async function currentSubscription(unit: Unit, shop: ShopId, userId: string): Promise<Subscription | undefined> {
  const live = await findLiveSubscription(unit.q, shop, userId);
  if (live) return bringUpToDate(unit, live);
  return findLatestSubscription(unit.q, shop, userId);
}

export function neverSubscribed(shopId: string, userId: string): AllotError {
  return new AllotError('subscription_not_found', `User ${userId} has no subscription in shop ${shopId}.`);
}

/** The live subscription, else the latest canceled one; 404 when the pair never subscribed. */
export async function getSubscription(services: Services, scope: Scope, shopId: string, userId: string): Promise<Subscription> {
  const shop = scope.shop(shopId, 'subscription_not_found');
  const sub = await services.write((unit) => currentSubscription(unit, shop, userId));
  if (!sub) throw neverSubscribed(shopId, userId);
  return sub;
}

export async function listShopSubscriptions(
  services: Services,
  scope: Scope,
  filter: { shop_id?: string; status?: string; after?: string; limit: number },
): Promise<Subscription[]> {
  const shop = filter.shop_id !== undefined ? scope.shop(filter.shop_id) : scope.shopFilter();
  // Lazy rollover covers lists too: a status filter must see the status as of now.
  await rollDueSubscriptions(services, services.clock.now(), shop);
  return services.read(({ q }) => listSubscriptions(q, { shop, status: filter.status, after: filter.after, limit: filter.limit }));
}

export async function cancelSubscription(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  atPeriodEnd: boolean,
): Promise<Subscription> {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const current = await liveLocked(unit, shop, userId);
    if (!current) throw noLiveSubscription(shopId, userId);
    if (atPeriodEnd) {
      const next = { ...current, cancel_at_period_end: true, updated_at: unit.now };
      await write(unit, current, next);
      return next;
    }
    // Canceling now closes the period so far into a summary (history is never lost); the period ends here.
    const next: Subscription = {
      ...current, status: 'canceled', canceled_at: unit.now, current_period_end: unit.now, pending_plan_id: null, updated_at: unit.now,
    };
    await write(unit, current, next);
    await insertPeriodSummary(unit.q, {
      subscription_id: current.id,
      period_start: current.current_period_start,
      period_end: unit.now,
      plan_id: current.plan_id,
      allocated_tokens: current.allocated_tokens,
      used_tokens: current.used_tokens,
      queries: current.queries,
      peak_daily_tokens: await peakDailyTokens(unit.q, current.id, current.current_period_start),
    });
    await expireAllHolds(unit, next);
    return { ...next, reserved_tokens: 0 };
  });
}

export async function setSuspended(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  suspended: boolean,
): Promise<Subscription> {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    const current = await liveLocked(unit, shop, userId);
    if (!current) throw noLiveSubscription(shopId, userId);
    const status = suspended ? 'suspended' : 'active';
    if (current.status === status) return current;
    const next = { ...current, status, updated_at: unit.now } as Subscription;
    await write(unit, current, next);
    return next;
  });
}

export async function listPeriods(
  services: Services,
  scope: Scope,
  shopId: string,
  userId: string,
  page: { before?: PeriodPosition; limit: number },
) {
  const shop = scope.shop(shopId, 'subscription_not_found');
  return services.write(async (unit) => {
    if (!(await currentSubscription(unit, shop, userId))) throw neverSubscribed(shopId, userId);
    return listPeriodSummaries(unit.q, shop, userId, page);
  });
}

export { requireLive };
