/** A whole shop at once: what the dashboard's shop view shows, aggregated by the database. */
import { DAY_MS, isoDay, startOfDay } from '../domain/clock.ts';
import { AllotError } from '../domain/errors.ts';
import { rankedSubscriptions, shopCounts, shopDailyUsage } from '../store/shops.ts';
import type { Services } from './context.ts';
import { rollDueSubscriptions } from './renewals.ts';
import type { Scope } from './scope.ts';

export const DEFAULT_OVERVIEW_DAYS = 30;
export const MAX_OVERVIEW_DAYS = 366;

export async function shopOverview(
  services: Services,
  scope: Scope,
  shopId: string,
  options: { from?: string; to?: string; offset: number; limit: number },
) {
  const shop = scope.shop(shopId);
  const now = services.clock.now();
  // Periods that ended roll first, so counters and ranks are those of the current periods.
  await rollDueSubscriptions(services, now, shop);
  const to = options.to ?? isoDay(now);
  const last = Date.parse(`${to}T00:00:00Z`);
  const from = options.from ?? isoDay(Math.min(last, startOfDay(now)) - (DEFAULT_OVERVIEW_DAYS - 1) * DAY_MS);
  const first = Date.parse(`${from}T00:00:00Z`);
  if (last < first) {
    throw new AllotError('validation_error', '`from` must not be after `to`.', { errors: [{ path: 'from', message: 'must be on or before to' }] });
  }
  if ((last - first) / DAY_MS >= MAX_OVERVIEW_DAYS) {
    throw new AllotError('validation_error', `At most ${MAX_OVERVIEW_DAYS} days per request.`, { errors: [{ path: 'to', message: `range longer than ${MAX_OVERVIEW_DAYS} days` }] });
  }
  return services.read(async ({ q }) => {
    const counts = await shopCounts(q, shop);
    const rows = await shopDailyUsage(q, shop, from, to);
    const byDay = new Map(rows.map((r) => [r.date, r]));
    const daily = [];
    for (let day = first; day <= last; day += DAY_MS) {
      const date = isoDay(day);
      daily.push({ date, tokens: byDay.get(date)?.tokens ?? 0, queries: byDay.get(date)?.queries ?? 0 });
    }
    const ranked = await rankedSubscriptions(q, shop, now, { offset: options.offset, limit: options.limit });
    return { now, from, to, counts, daily, ranked };
  });
}
