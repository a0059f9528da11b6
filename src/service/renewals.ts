/**
 * The renewal sweep: rolls every subscription whose period ended, frees
 * expired holds, and forgets old idempotency keys. Each subscription is
 * brought up to date in its own transaction, so the sweep is safe to run
 * from several servers at once and to repeat.
 */
import { DAY_MS } from '../domain/clock.ts';
import { dueSubscriptionIds, findSubscriptionById } from '../store/subscriptions.ts';
import { subscriptionsWithExpiredHolds } from '../store/usage.ts';
import { forgetClaimsBefore } from '../store/idempotency.ts';
import type { Services } from './context.ts';
import { bringUpToDate } from './lifecycle.ts';
import type { ShopId } from './scope.ts';

export interface SweepReport {
  subscriptions_rolled: number;
  holds_checked: number;
  idempotency_keys_deleted: number;
}

const PAGE = 500;
export const IDEMPOTENCY_KEY_TTL_MS = DAY_MS;

/**
 * Subscriptions brought up to date at once. SQLite commits concurrent
 * transactions as one batch, so a whole page goes together; on PostgreSQL each
 * takes a pooled connection, and a few at a time leave the pool to requests.
 */
function sweepConcurrency(services: Services): number {
  return services.db.dialect === 'sqlite' ? PAGE : 4;
}

/** Calls `each` for every id, at most `limit` at once; answers the results in order. */
async function inTurn<T>(ids: readonly string[], limit: number, each: (id: string) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      results[i] = await each(ids[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, ids.length) }, worker));
  return results;
}

/** Brings one subscription up to date in its own transaction; answers how many periods this call closed. */
async function bringUpToDateById(services: Services, id: string): Promise<number> {
  return services.write(async (unit) => {
    let periods = 0;
    const sub = await findSubscriptionById(unit.q, id);
    if (sub) await bringUpToDate(unit, sub, () => periods++);
    return periods;
  });
}

/** Rolls every subscription (of one shop, or all) whose period ended by `now`; answers how many. */
export async function rollDueSubscriptions(services: Services, now: number, shop?: ShopId): Promise<number> {
  let rolled = 0;
  let after = '';
  for (;;) {
    const ids = await services.read(({ q }) => dueSubscriptionIds(q, now, PAGE, after, shop));
    if (ids.length === 0) break;
    const closed = await inTurn(ids, sweepConcurrency(services), (id) => bringUpToDateById(services, id));
    // Only the ones this sweep rolled: another sweeper or a request may have got there first.
    rolled += closed.filter((periods) => periods > 0).length;
    after = ids[ids.length - 1]!;
  }
  return rolled;
}

export async function runRenewals(services: Services): Promise<SweepReport> {
  const now = services.clock.now();
  const rolled = await rollDueSubscriptions(services, now);
  const withExpired = await services.read(({ q }) => subscriptionsWithExpiredHolds(q, now, 10_000));
  await inTurn(withExpired, sweepConcurrency(services), (id) => bringUpToDateById(services, id));
  const deleted = await services.write(({ q }) => forgetClaimsBefore(q, now - IDEMPOTENCY_KEY_TTL_MS));
  return { subscriptions_rolled: rolled, holds_checked: withExpired.length, idempotency_keys_deleted: deleted };
}

/** Runs the sweep every `seconds` until stopped; one sweep at a time. */
export function startSweeper(services: Services, seconds: number, onError: (error: unknown) => void): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = runRenewals(services).catch(onError).finally(() => {
      running = null;
    });
  }, seconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
