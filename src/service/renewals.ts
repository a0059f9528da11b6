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
  /** Subscriptions that could not be brought up to date (each is reported to `onFailure`); the sweep went on. */
  subscriptions_failed: number;
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

/** Hears of a subscription the sweep could not bring up to date; the sweep goes on with the others. */
export type SweepFailure = (subscriptionId: string, error: unknown) => void;

/** Brings each subscription up to date; answers how many this call rolled and how many failed. */
async function bringAllUpToDate(services: Services, ids: readonly string[], onFailure?: SweepFailure) {
  const outcomes = await inTurn(ids, sweepConcurrency(services), (id) =>
    bringUpToDateById(services, id).catch((error: unknown) => {
      onFailure?.(id, error);
      return -1;
    }));
  // Only the ones this sweep rolled: another sweeper or a request may have got there first.
  return { rolled: outcomes.filter((periods) => periods > 0).length, failed: outcomes.filter((periods) => periods < 0).length };
}

/** Rolls every subscription (of one shop, or all) whose period ended by `now`. */
export async function rollDueSubscriptions(services: Services, now: number, shop?: ShopId, onFailure?: SweepFailure) {
  const total = { rolled: 0, failed: 0 };
  let after = '';
  for (;;) {
    const ids = await services.read(({ q }) => dueSubscriptionIds(q, now, PAGE, after, shop));
    if (ids.length === 0) break;
    const page = await bringAllUpToDate(services, ids, onFailure);
    total.rolled += page.rolled;
    total.failed += page.failed;
    after = ids[ids.length - 1]!;
  }
  return total;
}

export async function runRenewals(services: Services, onFailure?: SweepFailure): Promise<SweepReport> {
  const now = services.clock.now();
  // One subscription failing in both passes is one failure.
  const failed = new Set<string>();
  const fail: SweepFailure = (id, error) => {
    if (failed.has(id)) return;
    failed.add(id);
    onFailure?.(id, error);
  };
  const due = await rollDueSubscriptions(services, now, undefined, fail);
  const withExpired = await services.read(({ q }) => subscriptionsWithExpiredHolds(q, now, 10_000));
  await bringAllUpToDate(services, withExpired, fail);
  const deleted = await services.write(({ q }) => forgetClaimsBefore(q, now - IDEMPOTENCY_KEY_TTL_MS));
  return {
    subscriptions_rolled: due.rolled,
    subscriptions_failed: failed.size,
    holds_checked: withExpired.length,
    idempotency_keys_deleted: deleted,
  };
}

/** Runs the sweep every `seconds` until stopped; one sweep at a time. */
export function startSweeper(services: Services, seconds: number, onError: (error: unknown, subscriptionId?: string) => void): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = runRenewals(services, (id, error) => onError(error, id)).catch(onError).finally(() => {
      running = null;
    });
  }, seconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
