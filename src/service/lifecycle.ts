/**
 * Bringing a subscription up to date before anything reads or changes it:
 * expired holds free themselves and every ended period rolls over, each
 * into its own summary. Idempotent, and safe with several sweepers at once.
 */
import { AllotError } from '../domain/errors.ts';
import type { PeriodSummary, Subscription } from '../domain/model.ts';
import { isDue, rollOnce } from '../domain/rollover.ts';
import {
  appendPlanTenure, findLiveSubscription, findPlan, findSubscriptionById, insertPeriodSummary, peakDailyTokens,
  writeSubscriptionState,
} from '../store/subscriptions.ts';
import { activeHolds, expiredHolds, freeHold, settleReservation } from '../store/usage.ts';
import { RetryUnit, type Unit } from './context.ts';
import type { ShopId } from './scope.ts';

export async function expireHolds(unit: Unit, sub: Subscription): Promise<Subscription> {
  if (sub.reserved_tokens === 0) return sub;
  let reserved = sub.reserved_tokens;
  for (const hold of await expiredHolds(unit.q, sub.id, unit.now)) {
    if (await settleReservation(unit.q, hold.shop_id, hold.id, 'expired', unit.now)) {
      const counters = await freeHold(unit.q, sub.id, hold.tokens);
      if (counters) reserved = counters.reserved_tokens;
    }
  }
  return { ...sub, reserved_tokens: reserved };
}

/** `onClosed` hears of each period this unit closed (not those another writer closed first). */
export async function rollOver(unit: Unit, start: Subscription, onClosed?: (summary: PeriodSummary) => void): Promise<Subscription> {
  let sub = start;
  while (isDue(sub, unit.now)) {
    const locked = await findSubscriptionById(unit.q, sub.id, unit.lock);
    if (!locked || !isDue(locked, unit.now)) return locked ?? sub;
    const pending = locked.pending_plan_id ? await findPlan(unit.q, locked.pending_plan_id) : undefined;
    const peak = await peakDailyTokens(unit.q, locked.id, locked.current_period_start);
    const step = rollOnce(locked, pending, peak);
    // The row is locked and was just read: a lost guard means another writer without the lock, so start over.
    if (!(await writeSubscriptionState(unit.q, locked, step.next))) throw new RetryUnit('subscription changed during rollover');
    await insertPeriodSummary(unit.q, step.summary);
    onClosed?.(step.summary);
    if (step.tenure) await appendPlanTenure(unit.q, locked.id, step.tenure);
    sub = step.next;
    if (sub.status === 'canceled') {
      await expireAllHolds(unit, sub);
      sub = { ...sub, reserved_tokens: 0 };
    }
  }
  return sub;
}

export async function bringUpToDate(unit: Unit, sub: Subscription, onClosed?: (summary: PeriodSummary) => void): Promise<Subscription> {
  return rollOver(unit, await expireHolds(unit, sub), onClosed);
}

/** The live subscription of (shop, user), up to date; 404 `subscription_not_found` when there is none. */
export async function requireLive(unit: Unit, shop: ShopId, userId: string): Promise<Subscription> {
  const found = await findLiveSubscription(unit.q, shop, userId);
  const sub = found && (await bringUpToDate(unit, found));
  if (!sub || sub.status === 'canceled') throw noLiveSubscription(shop, userId);
  return sub;
}

export function noLiveSubscription(shop: string, userId: string): AllotError {
  return new AllotError('subscription_not_found', `No live subscription for user ${userId} in shop ${shop}.`);
}

/**
 * Frees every hold of a subscription that ended. They are marked expired, not
 * released: the client never gave them up, and a call still running may yet
 * commit the tokens it spent.
 */
export async function expireAllHolds(unit: Unit, sub: Subscription): Promise<void> {
  for (const hold of await activeHolds(unit.q, sub.id)) {
    if (await settleReservation(unit.q, hold.shop_id, hold.id, 'expired', unit.now)) {
      await freeHold(unit.q, sub.id, hold.tokens);
    }
  }
}
