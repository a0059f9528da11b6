/** Holds before an LLM call and settlement after (SPEC §6, reservations). */
import { remainingTokens } from '../domain/analytics.ts';
import { AllotError } from '../domain/errors.ts';
import type { Subscription } from '../domain/model.ts';
import { addToPeriodSummary, findSubscriptionById } from '../store/subscriptions.ts';
import {
  addHold, countActiveHolds, findReservation, reservationShops, findUsageEvent, freeHold, insertReservation, recordCommit,
  settleReservation, type ReservationRow,
} from '../store/usage.ts';
import { RetryUnit, type Services, type Unit } from './context.ts';
import { contentHash } from './hash.ts';
import { newId } from './ids.ts';
import { bringUpToDate, requireLive } from './lifecycle.ts';
import { charge, type ChargeRequest } from './models.ts';
import type { Scope, ShopId } from './scope.ts';
import { chargeColumns, meter, quotaExceeded, storeEvent, suspended, usageResult, type UsageResult } from './usage.ts';

export interface HoldResult {
  reservation: ReservationRow;
  remaining_tokens: number;
  duplicate: boolean;
}

export async function createHold(
  services: Services,
  scope: Scope,
  input: ChargeRequest & { reservation_id?: string; shop_id: string; user_id: string; ttl_seconds?: number },
): Promise<HoldResult> {
  const shop = scope.shop(input.shop_id, 'subscription_not_found');
  const ttl = input.ttl_seconds ?? 300;
  const hash = contentHash({
    user_id: input.user_id, tokens: input.tokens, ttl_seconds: ttl, input_tokens: input.input_tokens,
    cached_input_tokens: input.cached_input_tokens, output_tokens: input.output_tokens, model: input.model,
  });
  return services.write(async (unit) => {
    if (input.reservation_id !== undefined) {
      const existing = await findReservation(unit.q, shop, input.reservation_id);
      if (existing) {
        if (existing.request_hash !== hash) {
          throw new AllotError('idempotency_conflict', `Reservation ${input.reservation_id} exists with other content.`);
        }
        const sub = await findSubscriptionById(unit.q, existing.subscription_id);
        const remaining = sub ? remainingTokens(sub.allocated_tokens, sub.used_tokens, sub.reserved_tokens) : 0;
        return { reservation: existing, remaining_tokens: remaining, duplicate: true };
      }
    }
    let sub = await requireLive(unit, shop, input.user_id);
    if (sub.status === 'suspended') throw suspended(input.user_id);
    // Holds of one subscription are placed one at a time, or concurrent ones would all count the same holds.
    await findSubscriptionById(unit.q, sub.id, unit.lock);
    if ((await countActiveHolds(unit.q, sub.id)) >= services.rules.maxActiveHolds) {
      throw new AllotError('too_many_reservations', `A subscription may hold at most ${services.rules.maxActiveHolds} active reservations; commit or release some first.`);
    }
    // An estimate in counts is held at what those counts cost now.
    const { tokens } = await charge(unit, input);
    let counters = await addHold(unit.q, sub.id, sub.current_period_start, tokens);
    while (!counters) {
      const fresh = await findSubscriptionById(unit.q, sub.id);
      if (!fresh) throw new RetryUnit('subscription vanished');
      if (fresh.current_period_start === sub.current_period_start && fresh.status === sub.status) {
        throw await quotaExceeded(unit, fresh, tokens);
      }
      sub = await bringUpToDate(unit, fresh);
      if (sub.status !== 'active') throw suspended(input.user_id);
      counters = await addHold(unit.q, sub.id, sub.current_period_start, tokens);
    }
    const reservation: ReservationRow = {
      shop_id: shop,
      id: input.reservation_id ?? newId('res', unit.now),
      subscription_id: sub.id,
      user_id: input.user_id,
      tokens,
      status: 'active',
      expires_at: unit.now + ttl * 1000,
      created_at: unit.now,
      request_hash: hash,
      committed_tokens: null,
      event_id: null,
      commit_hash: null,
      commit_result: null,
      settled_at: null,
    };
    if (!(await insertReservation(unit.q, reservation))) throw new RetryUnit('reservation stored concurrently');
    return {
      reservation,
      remaining_tokens: remainingTokens(counters.allocated_tokens, counters.used_tokens, counters.reserved_tokens),
      duplicate: false,
    };
  });
}

export interface CommitResult extends UsageResult {
  reservation_id: string;
  status: 'committed';
  reservation_expired: boolean;
}

/**
 * Reservation ids are scoped per shop. A shop key names its own shop; an
 * admin may pass `shop_id`, or leave it out when the id is unique.
 */
async function reservationShop(unit: Unit, scope: Scope, shopId: string | undefined, id: string): Promise<ShopId> {
  if (shopId !== undefined) return scope.shop(shopId, 'reservation_not_found');
  if (scope.ownShop !== null) return scope.shop(scope.ownShop, 'reservation_not_found');
  const shops = await reservationShops(unit.q, id);
  if (shops.length !== 1) {
    throw new AllotError('reservation_not_found', shops.length ? `Reservation ${id} exists in several shops: pass shop_id.` : `No reservation ${id}.`);
  }
  return scope.shop(shops[0]!, 'reservation_not_found');
}

async function lockedReservation(unit: Unit, shop: ShopId, id: string): Promise<ReservationRow> {
  const reservation = await findReservation(unit.q, shop, id, unit.lock);
  if (!reservation) throw new AllotError('reservation_not_found', `No reservation ${id}.`);
  return reservation;
}

/** Frees an active hold whose time is up; answers the reservation as it now stands. */
async function expireIfDue(unit: Unit, r: ReservationRow): Promise<ReservationRow> {
  if (r.status !== 'active' || r.expires_at > unit.now) return r;
  if (await settleReservation(unit.q, r.shop_id, r.id, 'expired', unit.now)) await freeHold(unit.q, r.subscription_id, r.tokens);
  return { ...r, status: 'expired' };
}

/** The subscription a reservation holds tokens of, brought up to date unless it ended. */
async function holdingSubscription(unit: Unit, r: ReservationRow): Promise<Subscription> {
  const held = await findSubscriptionById(unit.q, r.subscription_id);
  if (!held) throw new AllotError('subscription_not_found', 'The reservation\'s subscription is gone.');
  return held.status === 'canceled' ? held : bringUpToDate(unit, held);
}

function remainingOf(sub: Subscription): number {
  return remainingTokens(sub.allocated_tokens, sub.used_tokens, sub.reserved_tokens);
}

/** A commit without an `event_id` stores its usage as this prefix and the reservation's id; clients may not use it. */
export const COMMIT_EVENT_PREFIX = 'reservation:';

export async function commitHold(
  services: Services,
  scope: Scope,
  input: ChargeRequest & { shop_id?: string; id: string; event_id?: string },
): Promise<CommitResult> {
  const hash = contentHash({
    tokens: input.tokens, event_id: input.event_id, input_tokens: input.input_tokens, cached_input_tokens: input.cached_input_tokens,
    output_tokens: input.output_tokens, model: input.model,
  });
  return services.write(async (unit) => {
    const shop = await reservationShop(unit, scope, input.shop_id, input.id);
    const found = await lockedReservation(unit, shop, input.id);
    if (found.status === 'committed') {
      if (found.commit_hash !== hash) throw new AllotError('idempotency_conflict', `Reservation ${input.id} was committed with other content.`);
      return { ...(JSON.parse(found.commit_result ?? '{}') as CommitResult), duplicate: true };
    }
    if (found.status === 'released') throw new AllotError('reservation_not_active', `Reservation ${input.id} was released.`);
    // What was spent is priced at the commit's instant, before anything changes (an unpriced model changes nothing).
    const charged = await charge(unit, input);
    const tokens = charged.tokens;
    const eventId = input.event_id ?? `${COMMIT_EVENT_PREFIX}${found.id}`;
    if (await findUsageEvent(unit.q, shop, eventId)) {
      throw new AllotError('idempotency_conflict', `Event ${eventId} was already recorded.`);
    }
    // Bring the subscription up to date (expiring due holds) before touching its counters: the same lock order as usage.
    const current = await holdingSubscription(unit, found);
    // Decided as of now: bringing the subscription up to date may have just ended it, and its holds with it.
    const reservation = await expireIfDue(unit, current.status === 'canceled' ? await lockedReservation(unit, shop, found.id) : found);
    const expired = reservation.status === 'expired';
    let sub = current;
    if (!expired) {
      await settleReservation(unit.q, shop, reservation.id, 'committed', unit.now);
      const counters = await freeHold(unit.q, reservation.subscription_id, reservation.tokens);
      if (counters) sub = { ...sub, reserved_tokens: counters.reserved_tokens };
    }
    // Spent tokens are never dropped: they count even above the hold, after expiry, or on a subscription no longer live.
    const { sub: metered, counters } = await meter(unit, sub, tokens, 'spent');
    // A canceled subscription's period is already summarised: the late usage belongs in that summary too.
    if (metered.status === 'canceled') await addToPeriodSummary(unit.q, metered.id, metered.current_period_start, tokens);
    const model = input.model ?? null;
    const result: CommitResult = Object.assign(usageResult(eventId, metered, tokens, counters, { model, weights: charged.weights }), {
      reservation_id: reservation.id,
      status: 'committed' as const,
      reservation_expired: expired,
    });
    await storeEvent(unit, {
      shop_id: shop, event_id: eventId, subscription_id: metered.id, user_id: reservation.user_id, tokens,
      input_tokens: input.input_tokens ?? null, output_tokens: input.output_tokens ?? null, model, enforce: 0,
      reservation_id: reservation.id, request_hash: hash, ...chargeColumns(input.cached_input_tokens, charged),
    }, metered, counters);
    await recordCommit(unit.q, shop, reservation.id, {
      committed_tokens: tokens, event_id: eventId, commit_hash: hash, commit_result: JSON.stringify(result), now: unit.now,
    });
    return result;
  });
}

export async function releaseHold(
  services: Services,
  scope: Scope,
  input: { shop_id?: string; id: string },
): Promise<{ reservation: ReservationRow; remaining_tokens: number }> {
  return services.write(async (unit) => {
    const shop = await reservationShop(unit, scope, input.shop_id, input.id);
    const reservation = await expireIfDue(unit, await lockedReservation(unit, shop, input.id));
    if (reservation.status === 'committed') throw new AllotError('reservation_not_active', `Reservation ${input.id} was committed.`);
    let settled = reservation;
    if (reservation.status === 'active') {
      if (!(await settleReservation(unit.q, shop, reservation.id, 'released', unit.now))) throw new RetryUnit('reservation changed');
      await freeHold(unit.q, reservation.subscription_id, reservation.tokens);
      settled = { ...reservation, status: 'released', settled_at: unit.now };
    } else if (reservation.status === 'expired') {
      // Its tokens were freed when it expired; released, it also refuses a later commit.
      if (!(await settleReservation(unit.q, shop, reservation.id, 'released', unit.now, 'expired'))) throw new RetryUnit('reservation changed');
      settled = { ...reservation, status: 'released', settled_at: unit.now };
    }
    return { reservation: settled, remaining_tokens: remainingOf(await holdingSubscription(unit, reservation)) };
  });
}

/** A reservation as it now stands, with its subscription's remaining tokens (as its creation answered them). */
export async function getHold(
  services: Services,
  scope: Scope,
  input: { shop_id?: string; id: string },
): Promise<{ reservation: ReservationRow; remaining_tokens: number }> {
  return services.write(async (unit) => {
    const shop = await reservationShop(unit, scope, input.shop_id, input.id);
    const found = await findReservation(unit.q, shop, input.id);
    if (!found) throw new AllotError('reservation_not_found', `No reservation ${input.id}.`);
    // Up to date first, as a commit does: a hold that expired is freed there, and the count below includes it.
    const sub = await holdingSubscription(unit, found);
    return { reservation: await expireIfDue(unit, found), remaining_tokens: remainingOf(sub) };
  });
}
