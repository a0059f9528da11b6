/** Metering (SPEC §6): usage exactly once per (shop, event_id), recorded or enforced atomically. */
import { isoDay } from '../domain/clock.ts';
import { remainingTokens, usagePercentage } from '../domain/analytics.ts';
import { AllotError } from '../domain/errors.ts';
import type { Subscription } from '../domain/model.ts';
import { chargedTokens, plainTokens, type Weights } from '../domain/rates.ts';
import { addModelUsage } from '../store/models.ts';
import { findPlan, findSubscriptionById } from '../store/subscriptions.ts';
import {
  addDailyUsage, addUsage, MAX_PERIOD_TOKENS, findUsageEvent, insertUsageEvent, listUsageEvents, recordLiveUsage, storedCounters, type Counters,
  type UsageEventRow,
} from '../store/usage.ts';
import { RetryUnit, type Services, type Unit } from './context.ts';
import { sha256 } from './hash.ts';
import { bringUpToDate, noLiveSubscription, requireLive } from './lifecycle.ts';
import { charge, countsOf, weightsView, type Charge, type WeightsView } from './models.ts';
import type { Scope, ShopId } from './scope.ts';

export interface UsageInput {
  event_id: string;
  shop_id: string;
  user_id: string;
  tokens?: number;
  input_tokens?: number;
  cached_input_tokens?: number;
  output_tokens?: number;
  model?: string;
  enforce?: boolean;
}

export interface UsageResult {
  event_id: string;
  subscription_id: string;
  tokens: number;
  used_tokens: number;
  reserved_tokens: number;
  remaining_tokens: number;
  allocated_tokens: number;
  usage_percentage: number;
  over_limit: boolean;
  duplicate: boolean;
  /** With `weights`, only when the event was charged by a model's rate. */
  model?: string | null;
  weights?: WeightsView;
}

/** The tokens an event names without any rate: `tokens`, else the plain sum of its counts. */
export function totalTokens(input: Pick<UsageInput, 'tokens' | 'input_tokens' | 'cached_input_tokens' | 'output_tokens'>): number {
  return input.tokens ?? plainTokens(countsOf(input));
}

function secondsUntil(end: number, now: number): number {
  return Math.max(1, Math.ceil((end - now) / 1000));
}

/**
 * The refusal of `tokens` that do not fit the period. It says when the
 * allowance refills (Retry-After), unless the tokens exceed the whole
 * allowance of the periods to come (the pending plan's from the next period
 * on): then no wait would make them fit, and the detail says so instead.
 */
export async function quotaExceeded(unit: Unit, sub: Subscription, tokens: number): Promise<AllotError> {
  const pending = sub.pending_plan_id === null ? undefined : await findPlan(unit.q, sub.pending_plan_id);
  const remaining = remainingTokens(sub.allocated_tokens, sub.used_tokens, sub.reserved_tokens);
  const allowance = pending?.allocated_tokens ?? sub.allocated_tokens;
  if (tokens > allowance) {
    const whole = pending && pending.allocated_tokens !== sub.allocated_tokens
      ? `${tokens} tokens exceed the ${remaining} remaining in this period and the whole allowance of ${allowance} tokens a period on plan ${pending.id} from the next period`
      : `${tokens} tokens exceed the whole allowance of ${allowance} tokens a period`;
    return new AllotError('quota_exceeded', `${whole}: no wait makes them fit.`, { extra: { remaining_tokens: remaining } });
  }
  const detail = sub.used_tokens + sub.reserved_tokens + tokens > MAX_PERIOD_TOKENS
    ? `${tokens} more tokens would take this period past the ${MAX_PERIOD_TOKENS} one period can count.`
    : remaining === 0
      ? `No tokens remain in this period (${tokens} asked).`
      : `${tokens} tokens exceed the ${remaining} remaining in this period.`;
  return new AllotError('quota_exceeded', detail, {
    extra: { retry_after_seconds: secondsUntil(sub.current_period_end, unit.now), remaining_tokens: remaining },
  });
}

export function suspended(userId: string): AllotError {
  return new AllotError('subscription_suspended', `The subscription of user ${userId} is suspended.`);
}

/**
 * `contentHash` of the event's content, written out: the keys in sorted order
 * and undefined fields left out make the same canonical JSON, without the sort.
 * Events stored before their content was compared column by column keep it.
 */
export function usageContentHash(input: UsageInput, tokens: number, enforce: boolean): string {
  return sha256(JSON.stringify({
    cached_input_tokens: input.cached_input_tokens, enforce, input_tokens: input.input_tokens, model: input.model,
    output_tokens: input.output_tokens, tokens, user_id: input.user_id,
  }));
}

export { storedCounters };

function storedResult(event: UsageEventRow): UsageResult {
  const stored = JSON.parse(event.result) as UsageResult | [number, number, number];
  if (!Array.isArray(stored)) return stored;
  const [used_tokens, reserved_tokens, allocated_tokens] = stored;
  return usageResult(event.event_id, { id: event.subscription_id }, event.tokens, { used_tokens, reserved_tokens, allocated_tokens }, {
    model: event.model, weights: storedWeights(event),
  });
}

/** The weights an event was charged with, or null when it was charged as given or as the plain sum. */
export function storedWeights(event: Pick<UsageEventRow, 'input_weight' | 'cached_input_weight' | 'output_weight'>): Weights | null {
  if (event.input_weight === null || event.cached_input_weight === null || event.output_weight === null) return null;
  return { input_weight: event.input_weight, cached_input_weight: event.cached_input_weight, output_weight: event.output_weight };
}

/** What a stored event's counts cost with its own stored weights (the plain sum without): its charge, unless given explicitly. */
export function chargeOfCounts(event: Pick<UsageEventRow, 'input_tokens' | 'cached_input_tokens' | 'output_tokens' | 'input_weight' | 'cached_input_weight' | 'output_weight'>): number {
  const counts = {
    input_tokens: event.input_tokens ?? 0, cached_input_tokens: event.cached_input_tokens ?? 0, output_tokens: event.output_tokens ?? 0,
  };
  const weights = storedWeights(event);
  return weights ? chargedTokens(counts, weights) : plainTokens(counts);
}

/**
 * Whether a stored event has this request's content. An event recorded by
 * `POST /v1/usage` keeps its content in its own columns (its `request_hash`
 * is empty); rows from before, and a commit's event, keep a hash of it.
 */
function sameContent(existing: UsageEventRow, input: UsageInput, enforce: boolean): boolean {
  if (existing.request_hash !== '') return existing.request_hash === usageContentHash(input, totalTokens(input), enforce);
  // Counts charged by weights are compared as counts: the weights may have changed since.
  const tokens = input.tokens ?? chargeOfCounts(existing);
  return existing.user_id === input.user_id && existing.tokens === tokens && existing.enforce === (enforce ? 1 : 0)
    && existing.input_tokens === (input.input_tokens ?? null) && existing.output_tokens === (input.output_tokens ?? null)
    && (existing.cached_input_tokens ?? null) === (input.cached_input_tokens ?? null) && existing.model === (input.model ?? null);
}

function replay(existing: UsageEventRow, input: UsageInput, enforce: boolean): UsageResult {
  if (!sameContent(existing, input, enforce)) {
    throw new AllotError('idempotency_conflict', `Event ${existing.event_id} was already recorded with other content.`);
  }
  return { ...storedResult(existing), duplicate: true };
}

/**
 * How metering treats the allowance: `enforce` refuses what does not fit,
 * `record` counts past it, and `spent` (a hold's commit) counts past it even
 * on a subscription that ended meanwhile, since the tokens were already used.
 */
export type Metering = 'enforce' | 'record' | 'spent';

/**
 * Adds tokens to the subscription's current period and today's rollup.
 * Loops only when a rollover or status change moved the subscription under it.
 */
export async function meter(
  unit: Unit,
  start: Subscription,
  tokens: number,
  metering: Metering,
): Promise<{ sub: Subscription; counters: Counters }> {
  const enforce = metering === 'enforce';
  let sub = start;
  for (;;) {
    if (sub.status === 'canceled' && metering !== 'spent') throw noLiveSubscription(sub.shop_id, sub.user_id);
    if (enforce && sub.status === 'suspended') throw suspended(sub.user_id);
    const counters = await addUsage(unit.q, sub, tokens, enforce);
    if (counters) {
      await addDailyUsage(unit.q, sub.id, sub.current_period_start, isoDay(unit.now), tokens);
      return { sub, counters };
    }
    const fresh = await findSubscriptionById(unit.q, sub.id);
    if (!fresh) throw new RetryUnit('subscription vanished');
    if (fresh.current_period_start === sub.current_period_start && fresh.status === sub.status) {
      throw await quotaExceeded(unit, fresh, tokens);
    }
    sub = await bringUpToDate(unit, fresh);
  }
}

export function usageResult(
  eventId: string,
  sub: Pick<Subscription, 'id'>,
  tokens: number,
  counters: Pick<Counters, 'used_tokens' | 'reserved_tokens' | 'allocated_tokens'>,
  priced?: { model: string | null; weights: Weights | null },
): UsageResult {
  const result: UsageResult = {
    event_id: eventId,
    subscription_id: sub.id,
    tokens,
    used_tokens: counters.used_tokens,
    reserved_tokens: counters.reserved_tokens,
    remaining_tokens: remainingTokens(counters.allocated_tokens, counters.used_tokens, counters.reserved_tokens),
    allocated_tokens: counters.allocated_tokens,
    usage_percentage: usagePercentage(counters.used_tokens, counters.allocated_tokens),
    over_limit: counters.used_tokens > counters.allocated_tokens,
    duplicate: false,
  };
  if (priced?.weights) {
    result.model = priced.model;
    result.weights = weightsView(priced.weights);
  }
  return result;
}

/** The columns of an event row that record how it was charged: its cached count and the weights used (null: none). */
export function chargeColumns(cachedInputTokens: number | undefined, charged: Charge) {
  return {
    cached_input_tokens: cachedInputTokens ?? null,
    input_weight: charged.weights?.input_weight ?? null,
    cached_input_weight: charged.weights?.cached_input_weight ?? null,
    output_weight: charged.weights?.output_weight ?? null,
  };
}

/**
 * Stores the event the caller describes in a fresh object (completed in place
 * with its period, day, instant and counters), and adds an event that names a
 * model to that model's daily rollup.
 */
export async function storeEvent(
  unit: Unit,
  event: Omit<UsageEventRow, 'result' | 'period_start' | 'day' | 'created_at'>,
  sub: Pick<Subscription, 'current_period_start'>,
  counters: Pick<Counters, 'used_tokens' | 'reserved_tokens' | 'allocated_tokens'>,
): Promise<void> {
  // The caller's fresh object is completed in place: on Node 20, members added after a spread take a slow path.
  const row: UsageEventRow = Object.assign(event, {
    period_start: sub.current_period_start, day: isoDay(unit.now), created_at: unit.now, result: storedCounters(counters),
  });
  // Another request stored the same event while this one ran: undo and answer as a duplicate.
  if (!(await insertUsageEvent(unit.q, row))) throw new RetryUnit('event stored concurrently');
  if (row.model !== null) {
    await addModelUsage(unit.q, row.subscription_id, row.period_start, row.day, {
      model: row.model, input_tokens: row.input_tokens ?? 0, cached_input_tokens: row.cached_input_tokens ?? 0,
      output_tokens: row.output_tokens ?? 0, tokens: row.tokens,
    });
  }
}

export async function recordUsage(services: Services, scope: Scope, input: UsageInput): Promise<UsageResult> {
  const shop = scope.shop(input.shop_id, 'subscription_not_found');
  const enforce = input.enforce ?? false;
  // New events are the common case: the event's primary key catches a repeat at insert time
  // (storeEvent then retries the unit, which looks first). Refusals look before answering.
  let lookFirst = false;
  return services.write(async (unit) => {
    if (lookFirst) {
      const existing = await findUsageEvent(unit.q, shop, input.event_id);
      if (existing) return replay(existing, input, enforce);
    }
    lookFirst = true;
    let charged: Charge;
    let metered;
    try {
      // Priced inside the transaction: the weights in force now, whatever another server changed before.
      charged = await charge(unit, input);
      // The common case in one step: the live subscription needs nothing brought up to date and takes the usage.
      const recorded = await recordLiveUsage(unit.q, services.db.dialect, {
        shop_id: shop, event_id: input.event_id, user_id: input.user_id, tokens: charged.tokens, input_tokens: input.input_tokens ?? null,
        output_tokens: input.output_tokens ?? null, model: input.model ?? null, enforce,
        ...chargeColumns(input.cached_input_tokens, charged),
      }, unit.now, isoDay(unit.now));
      if (recorded) {
        // Another request stored the same event while this one ran: undo and answer as a duplicate.
        if (!recorded.stored) throw new RetryUnit('event stored concurrently');
        if (input.model !== undefined) {
          await addModelUsage(unit.q, recorded.sub.id, recorded.sub.current_period_start, isoDay(unit.now), {
            model: input.model, input_tokens: input.input_tokens ?? 0, cached_input_tokens: input.cached_input_tokens ?? 0,
            output_tokens: input.output_tokens ?? 0, tokens: charged.tokens,
          });
        }
        return usageResult(input.event_id, recorded.sub, charged.tokens, recorded.sub, { model: input.model ?? null, weights: charged.weights });
      }
      metered = await meter(unit, await requireLive(unit, shop, input.user_id), charged.tokens, enforce ? 'enforce' : 'record');
    } catch (error) {
      // A database error (a deadlock, say) leaves the transaction unusable: let the store retry it whole.
      if (!(error instanceof AllotError)) throw error;
      // The same event may have been stored by a request that held the row before us.
      const stored = await findUsageEvent(unit.q, shop, input.event_id);
      if (stored) return replay(stored, input, enforce);
      throw error;
    }
    const model = input.model ?? null;
    await storeEvent(unit, {
      shop_id: shop, event_id: input.event_id, subscription_id: metered.sub.id, user_id: input.user_id, tokens: charged.tokens,
      input_tokens: input.input_tokens ?? null, output_tokens: input.output_tokens ?? null, model,
      enforce: enforce ? 1 : 0, reservation_id: null, request_hash: '', ...chargeColumns(input.cached_input_tokens, charged),
    }, metered.sub, metered.counters);
    return usageResult(input.event_id, metered.sub, charged.tokens, metered.counters, { model, weights: charged.weights });
  });
}

export async function getUsageEvent(services: Services, scope: Scope, shopId: string, eventId: string): Promise<UsageEventRow> {
  const shop = scope.shop(shopId);
  const event = await services.read(({ q }) => findUsageEvent(q, shop, eventId));
  if (!event) throw new AllotError('not_found', `No usage event ${eventId} in shop ${shopId}.`);
  return event;
}

export async function listUsage(
  services: Services,
  scope: Scope,
  filter: { shop_id?: string; user_id?: string; from?: number; to?: number; after?: { created_at: number; event_id: string }; limit: number },
): Promise<UsageEventRow[]> {
  const shop: ShopId | undefined = filter.shop_id !== undefined ? scope.shop(filter.shop_id) : scope.shopFilter();
  return services.read(({ q }) =>
    listUsageEvents(q, { shop, userId: filter.user_id, from: filter.from, to: filter.to, after: filter.after, limit: filter.limit }),
  );
}

export interface CheckResult {
  allowed: boolean;
  remaining_tokens: number;
  reason: null | 'quota_exceeded' | 'subscription_suspended' | 'subscription_not_found';
}

export async function checkQuota(
  services: Services,
  scope: Scope,
  input: { shop_id: string; user_id: string; tokens?: number },
): Promise<CheckResult> {
  let shop: ShopId;
  try {
    shop = scope.shop(input.shop_id, 'subscription_not_found');
  } catch {
    return { allowed: false, remaining_tokens: 0, reason: 'subscription_not_found' };
  }
  const tokens = input.tokens ?? 0;
  return services.write(async (unit) => {
    let sub: Subscription;
    try {
      sub = await requireLive(unit, shop, input.user_id);
    } catch (error) {
      if (error instanceof AllotError && error.code === 'subscription_not_found') {
        return { allowed: false, remaining_tokens: 0, reason: 'subscription_not_found' };
      }
      throw error;
    }
    const remaining = remainingTokens(sub.allocated_tokens, sub.used_tokens, sub.reserved_tokens);
    if (sub.status === 'suspended') return { allowed: false, remaining_tokens: remaining, reason: 'subscription_suspended' };
    const fits = sub.used_tokens + sub.reserved_tokens + tokens <= sub.allocated_tokens;
    return { allowed: fits, remaining_tokens: remaining, reason: fits ? null : 'quota_exceeded' };
  });
}
