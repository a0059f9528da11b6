/** SQL for plans, subscriptions, plan history and period summaries. */
import type { Queryable, Row } from './db.ts';
import type { Plan, PeriodSummary, PlanTenure, Subscription } from '../domain/model.ts';
import type { ShopId } from '../service/scope.ts';

const bool = (v: unknown): boolean => v === 1 || v === true || v === '1';

export function planFromRow(row: Row): Plan {
  return { ...(row as unknown as Plan), archived: bool(row.archived) };
}

export function subscriptionFromRow(row: Row): Subscription {
  return { ...(row as unknown as Subscription), cancel_at_period_end: bool(row.cancel_at_period_end) };
}

const PLAN_COLUMNS = [
  'id', 'display_name', 'allocated_tokens', 'price_minor', 'currency', 'billing_cycle',
  'allowance_interval', 'tier', 'archived', 'created_at',
] as const;

const SUBSCRIPTION_COLUMNS = [
  'id', 'shop_id', 'user_id', 'plan_id', 'plan_display_name', 'status', 'billing_cycle', 'allowance_interval',
  'allocated_tokens', 'price_minor', 'currency', 'started_at', 'period_anchor', 'period_index',
  'current_period_start', 'current_period_end', 'billing_anchor', 'plan_started_at', 'cancel_at_period_end',
  'pending_plan_id', 'used_tokens', 'reserved_tokens', 'queries', 'canceled_at', 'created_at', 'updated_at',
] as const;

/** Columns a plan change or rollover rewrites (the counters used/reserved are only ever changed atomically). */
const STATE_COLUMNS = SUBSCRIPTION_COLUMNS.filter(
  (c) => !['id', 'shop_id', 'user_id', 'started_at', 'created_at', 'reserved_tokens'].includes(c),
);

export const LIVE = `status IN ('active', 'suspended')`;

export async function insertPlan(q: Queryable, plan: Plan): Promise<boolean> {
  const changed = await q.run(
    `INSERT INTO plans (${PLAN_COLUMNS.join(', ')}) VALUES (${PLAN_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
    PLAN_COLUMNS.map((c) => (c === 'archived' ? (plan.archived ? 1 : 0) : plan[c])),
  );
  return changed === 1;
}

export async function findPlan(q: Queryable, id: string): Promise<Plan | undefined> {
  const row = await q.one('SELECT * FROM plans WHERE id = ?', [id]);
  return row && planFromRow(row);
}

export async function listPlans(
  q: Queryable,
  options: { includeArchived: boolean; after?: string; limit: number },
): Promise<Plan[]> {
  const rows = await q.all(
    `SELECT * FROM plans WHERE (? = 1 OR archived = 0) AND id > ? ORDER BY id LIMIT ?`,
    [options.includeArchived ? 1 : 0, options.after ?? '', options.limit],
  );
  return rows.map(planFromRow);
}

export async function allPlans(q: Queryable): Promise<Plan[]> {
  return (await q.all('SELECT * FROM plans ORDER BY tier, id')).map(planFromRow);
}

export async function archivePlan(q: Queryable, id: string): Promise<Plan | undefined> {
  const row = await q.one('UPDATE plans SET archived = 1 WHERE id = ? RETURNING *', [id]);
  return row && planFromRow(row);
}

function subscriptionValues(sub: Subscription, columns: readonly (keyof Subscription)[]): unknown[] {
  return columns.map((c) => (c === 'cancel_at_period_end' ? (sub.cancel_at_period_end ? 1 : 0) : sub[c]));
}

/** Inserts a live subscription unless the pair already has one (then answers false). */
export async function insertLiveSubscription(q: Queryable, sub: Subscription): Promise<boolean> {
  const changed = await q.run(
    `INSERT INTO subscriptions (${SUBSCRIPTION_COLUMNS.join(', ')})
     VALUES (${SUBSCRIPTION_COLUMNS.map(() => '?').join(', ')})
     ON CONFLICT (shop_id, user_id) WHERE ${LIVE} DO NOTHING`,
    subscriptionValues(sub, SUBSCRIPTION_COLUMNS),
  );
  return changed === 1;
}

export async function findLiveSubscription(
  q: Queryable,
  shop: ShopId,
  userId: string,
  lock = '',
): Promise<Subscription | undefined> {
  const row = await q.one(`SELECT * FROM subscriptions WHERE shop_id = ? AND user_id = ? AND ${LIVE}${lock}`, [shop, userId]);
  return row && subscriptionFromRow(row);
}

/** The live subscription, else the most recently started one. */
export async function findLatestSubscription(q: Queryable, shop: ShopId, userId: string): Promise<Subscription | undefined> {
  const row = await q.one(
    `SELECT * FROM subscriptions WHERE shop_id = ? AND user_id = ?
     ORDER BY CASE WHEN ${LIVE} THEN 0 ELSE 1 END, started_at DESC, id DESC LIMIT 1`,
    [shop, userId],
  );
  return row && subscriptionFromRow(row);
}

export async function findSubscriptionById(q: Queryable, id: string, lock = ''): Promise<Subscription | undefined> {
  const row = await q.one(`SELECT * FROM subscriptions WHERE id = ?${lock}`, [id]);
  return row && subscriptionFromRow(row);
}

export async function listSubscriptions(
  q: Queryable,
  filter: { shop?: ShopId; status?: string; after?: string; limit: number },
): Promise<Subscription[]> {
  const where: string[] = ['id > ?'];
  const params: unknown[] = [filter.after ?? ''];
  if (filter.shop !== undefined) {
    where.push('shop_id = ?');
    params.push(filter.shop);
  }
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  params.push(filter.limit);
  const rows = await q.all(`SELECT * FROM subscriptions WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, params);
  return rows.map(subscriptionFromRow);
}

/**
 * Writes a new plan/period/status state, guarded on the period and plan it was
 * decided from: answers false when another writer got there first.
 */
export async function writeSubscriptionState(q: Queryable, from: Subscription, next: Subscription): Promise<boolean> {
  const changed = await q.run(
    `UPDATE subscriptions SET ${STATE_COLUMNS.map((c) => `${c} = ?`).join(', ')}
     WHERE id = ? AND current_period_start = ? AND plan_id = ? AND status = ? AND used_tokens = ?`,
    [...subscriptionValues(next, STATE_COLUMNS), from.id, from.current_period_start, from.plan_id, from.status, from.used_tokens],
  );
  return changed === 1;
}

export async function appendPlanTenure(q: Queryable, subscriptionId: string, tenure: PlanTenure): Promise<void> {
  await q.run(
    `INSERT INTO plan_history (subscription_id, seq, plan_id, allocated_tokens, price_minor, start_date, end_date, change_reason)
     VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM plan_history WHERE subscription_id = ?), ?, ?, ?, ?, ?, ?)`,
    [subscriptionId, subscriptionId, tenure.plan_id, tenure.allocated_tokens, tenure.price_minor, tenure.start_date, tenure.end_date, tenure.change_reason],
  );
}

export async function planHistory(q: Queryable, subscriptionId: string): Promise<PlanTenure[]> {
  return q.all<PlanTenure>(
    `SELECT plan_id, allocated_tokens, price_minor, start_date, end_date, change_reason
     FROM plan_history WHERE subscription_id = ? ORDER BY seq`,
    [subscriptionId],
  );
}

/** Adds late usage (a commit after the period closed) to the period's summary, in one statement. */
export async function addToPeriodSummary(q: Queryable, subscriptionId: string, periodStart: number, tokens: number): Promise<void> {
  await q.run(
    `UPDATE period_summaries SET used_tokens = used_tokens + ?, queries = queries + 1,
       peak_daily_tokens = (SELECT COALESCE(MAX(tokens), 0) FROM daily_usage WHERE subscription_id = ? AND period_start = ?)
     WHERE subscription_id = ? AND period_start = ?`,
    [tokens, subscriptionId, periodStart, subscriptionId, periodStart],
  );
}

export async function insertPeriodSummary(q: Queryable, summary: PeriodSummary): Promise<void> {
  await q.run(
    `INSERT INTO period_summaries (subscription_id, period_start, period_end, plan_id, allocated_tokens, used_tokens, queries, peak_daily_tokens)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, period_start) DO NOTHING`,
    [summary.subscription_id, summary.period_start, summary.period_end, summary.plan_id, summary.allocated_tokens,
      summary.used_tokens, summary.queries, summary.peak_daily_tokens],
  );
}

/** Where a page of period summaries starts: after this one (several of a user's periods may start in one instant). */
export interface PeriodPosition {
  period_start: number;
  subscription_id: string;
}

export async function listPeriodSummaries(
  q: Queryable,
  shop: ShopId,
  userId: string,
  page: { before?: PeriodPosition; limit: number },
): Promise<PeriodSummary[]> {
  const before = page.before ?? { period_start: Number.MAX_SAFE_INTEGER, subscription_id: '' };
  return q.all<PeriodSummary>(
    `SELECT p.* FROM period_summaries p JOIN subscriptions s ON s.id = p.subscription_id
     WHERE s.shop_id = ? AND s.user_id = ? AND (p.period_start < ? OR (p.period_start = ? AND p.subscription_id < ?))
     ORDER BY p.period_start DESC, p.subscription_id DESC LIMIT ?`,
    [shop, userId, before.period_start, before.period_start, before.subscription_id, page.limit],
  );
}

export async function peakDailyTokens(q: Queryable, subscriptionId: string, periodStart: number): Promise<number> {
  const row = await q.one<{ peak: number | null }>(
    'SELECT MAX(tokens) AS peak FROM daily_usage WHERE subscription_id = ? AND period_start = ?',
    [subscriptionId, periodStart],
  );
  return Number(row?.peak ?? 0);
}

export async function dueSubscriptionIds(q: Queryable, now: number, limit: number, after = '', shop?: ShopId): Promise<string[]> {
  const inShop = shop === undefined ? '' : ' AND shop_id = ?';
  const rows = await q.all<{ id: string }>(
    `SELECT id FROM subscriptions WHERE ${LIVE} AND current_period_end <= ? AND id > ?${inShop} ORDER BY id LIMIT ?`,
    shop === undefined ? [now, after, limit] : [now, after, shop, limit],
  );
  return rows.map((r) => r.id);
}

/** Marks the current period as imported: it began with counters but without the events behind them (see `allot verify`). */
export async function markImportedPeriod(q: Queryable, subscriptionId: string): Promise<void> {
  await q.run('UPDATE subscriptions SET imported_period_start = current_period_start WHERE id = ?', [subscriptionId]);
}
