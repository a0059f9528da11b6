/** SQL for a whole shop at once: counts, daily tokens and subscriptions ranked by usage. */
import { DAY_MS } from '../domain/clock.ts';
import type { Queryable, Row } from './db.ts';
import type { Subscription } from '../domain/model.ts';
import type { ShopId } from '../service/scope.ts';
import { LIVE, subscriptionFromRow } from './subscriptions.ts';

export interface ShopCount {
  plan_id: string;
  status: string;
  subscriptions: number;
}

export async function shopCounts(q: Queryable, shop: ShopId): Promise<ShopCount[]> {
  const rows = await q.all<Row>(
    'SELECT plan_id, status, COUNT(*) AS subscriptions FROM subscriptions WHERE shop_id = ? GROUP BY plan_id, status ORDER BY plan_id, status',
    [shop],
  );
  return rows.map((r) => ({ plan_id: String(r.plan_id), status: String(r.status), subscriptions: Number(r.subscriptions) }));
}

export interface ShopDay {
  date: string;
  tokens: number;
  queries: number;
}

/** Tokens and queries per day over every subscription of the shop, from the daily rollups (days with none are left out). */
export async function shopDailyUsage(q: Queryable, shop: ShopId, from: string, to: string): Promise<ShopDay[]> {
  const rows = await q.all<Row>(
    `SELECT d.day AS date, SUM(d.tokens) AS tokens, SUM(d.queries) AS queries
     FROM subscriptions s JOIN daily_usage d ON d.subscription_id = s.id
     WHERE s.shop_id = ? AND d.day >= ? AND d.day <= ?
     GROUP BY d.day ORDER BY d.day`,
    [shop, from, to],
  );
  return rows.map((r) => ({ date: String(r.date), tokens: Number(r.tokens), queries: Number(r.queries) }));
}

export interface RankedSubscription {
  subscription: Subscription;
  /** Used at least 75 % of the allowance. */
  past_75: boolean;
  /** At the pace of this period so far (at least a day counted), the allowance runs out before the period ends. */
  runs_out: boolean;
}

/**
 * Live subscriptions of the shop, those at risk first (past 75 % or running
 * out before their period ends at this period's pace), then by share of the
 * allowance used, highest first. The ranking is computed by the database, so
 * a page costs one sort of the shop's live rows, not a transfer of them.
 */
export async function rankedSubscriptions(
  q: Queryable,
  shop: ShopId,
  now: number,
  options: { offset: number; limit: number },
): Promise<RankedSubscription[]> {
  const past75 = '(used_tokens * 100 >= allocated_tokens * 75 AND (allocated_tokens > 0 OR used_tokens > 0))';
  const elapsed = `(CASE WHEN ? - current_period_start > ${DAY_MS} THEN ? - current_period_start ELSE ${DAY_MS} END)`;
  const runsOut = `(used_tokens * 1.0 * (current_period_end - current_period_start) > allocated_tokens * 1.0 * ${elapsed})`;
  const share = '(CASE WHEN allocated_tokens > 0 THEN used_tokens * 1.0 / allocated_tokens WHEN used_tokens > 0 THEN 1.0 ELSE 0.0 END)';
  const rows = await q.all<Row>(
    `SELECT * FROM (
       SELECT s.*, CASE WHEN ${past75} THEN 1 ELSE 0 END AS past_75, CASE WHEN ${runsOut} THEN 1 ELSE 0 END AS runs_out, ${share} AS share
       FROM subscriptions s WHERE shop_id = ? AND ${LIVE}
     ) ranked
     ORDER BY CASE WHEN past_75 = 1 OR runs_out = 1 THEN 1 ELSE 0 END DESC, share DESC, id
     LIMIT ? OFFSET ?`,
    [now, now, shop, options.limit, options.offset],
  );
  return rows.map((r) => {
    const { past_75, runs_out, share: _share, ...rest } = r;
    return { subscription: subscriptionFromRow(rest), past_75: Number(past_75) === 1, runs_out: Number(runs_out) === 1 };
  });
}
