/** SQL for usage events, daily rollups, reservations and the quota counters. */
import type { Dialect, Queryable } from './db.ts';
import type { ShopId } from '../service/scope.ts';
import { LIVE } from './subscriptions.ts';

export interface UsageEventRow {
  shop_id: string;
  event_id: string;
  subscription_id: string;
  user_id: string;
  tokens: number;
  input_tokens: number | null;
  output_tokens: number | null;
  model: string | null;
  enforce: number;
  cached_input_tokens: number | null;
  /** The weights the event was charged with, in millionths; null when charged as given or as the plain sum. */
  input_weight: number | null;
  cached_input_weight: number | null;
  output_weight: number | null;
  reservation_id: string | null;
  period_start: number;
  day: string;
  created_at: number;
  /** Empty for an event `POST /v1/usage` recorded (its columns are its content); a hash of the content otherwise. */
  request_hash: string;
  /** The counters right after the event, `[used, reserved, allocated]` (older rows: the whole answer as JSON). */
  result: string;
}

export interface Counters {
  used_tokens: number;
  reserved_tokens: number;
  allocated_tokens: number;
  queries: number;
}

const COUNTERS = 'used_tokens, reserved_tokens, allocated_tokens, queries';

/** The guard of every quota change that must fit: an active subscription with room for `?` more tokens. */
const FITS = `status = 'active' AND used_tokens + reserved_tokens + ? <= allocated_tokens`;

/**
 * The most one period's counters may hold. Usage recorded without enforcement
 * may run past the allowance, but not past this: every count stays an exact
 * integer in JavaScript (below 2^53), on both dialects.
 */
export const MAX_PERIOD_TOKENS = 10 ** 15;

/** The guard of usage that may overrun the allowance: room for `?` more tokens below the ceiling. */
const BELOW_CEILING = `used_tokens + reserved_tokens + ? <= ${MAX_PERIOD_TOKENS}`;

/**
 * Adds usage to the current period in one statement, guarded on the period
 * and status it was decided from. With `enforce`, the row changes only while
 * the allowance still covers it and the subscription is active; without, only
 * below `MAX_PERIOD_TOKENS`. Otherwise nothing changes and `undefined` comes back.
 */
export async function addUsage(
  q: Queryable,
  sub: { id: string; current_period_start: number; status: string },
  tokens: number,
  enforce: boolean,
): Promise<Counters | undefined> {
  return q.one<Counters>(enforce ? ADD_USAGE_ENFORCED : ADD_USAGE, [tokens, sub.id, sub.current_period_start, sub.status, tokens]);
}

const addUsageSql = (guard: string) => `UPDATE subscriptions SET used_tokens = used_tokens + ?, queries = queries + 1
  WHERE id = ? AND current_period_start = ? AND status = ? AND ${guard} RETURNING ${COUNTERS}`;
const ADD_USAGE = addUsageSql(BELOW_CEILING);
const ADD_USAGE_ENFORCED = addUsageSql(FITS);

/**
 * The common case of metering in one statement: the live subscription of
 * (shop, user) takes the usage when it holds no tokens and its period has not
 * ended (so nothing needs bringing up to date first) and, with `enforce`, is
 * active with room for them (without, below `MAX_PERIOD_TOKENS`). Otherwise
 * nothing changes and `undefined` comes back.
 */
export async function addUsageToLive(
  q: Queryable,
  shop: ShopId,
  userId: string,
  now: number,
  tokens: number,
  enforce: boolean,
): Promise<MeteredLive | undefined> {
  return q.one<MeteredLive>(
    enforce ? ADD_USAGE_TO_LIVE_ENFORCED : ADD_USAGE_TO_LIVE,
    [tokens, shop, userId, now, tokens],
  );
}

/** What metering needs of the subscription it metered. */
export interface MeteredLive extends Counters {
  id: string;
  current_period_start: number;
}

const addUsageToLiveSql = (guard: string) => `UPDATE subscriptions SET used_tokens = used_tokens + ?, queries = queries + 1
  WHERE shop_id = ? AND user_id = ? AND ${LIVE} AND reserved_tokens = 0 AND current_period_end > ? AND ${guard}
  RETURNING id, current_period_start, ${COUNTERS}`;
// Built once: the statement cache is keyed by the SQL text.
const ADD_USAGE_TO_LIVE = addUsageToLiveSql(BELOW_CEILING);
const ADD_USAGE_TO_LIVE_ENFORCED = addUsageToLiveSql(FITS);

/**
 * What an event row keeps of its answer: the counters right after it, as a
 * JSON array `[used, reserved, allocated]`; the rest of the answer is the
 * row's own columns. Rows written before this format hold the whole answer.
 * The statement `recordLiveUsage` runs on PostgreSQL writes the same text.
 */
export function storedCounters(counters: Pick<Counters, 'used_tokens' | 'reserved_tokens' | 'allocated_tokens'>): string {
  return `[${counters.used_tokens},${counters.reserved_tokens},${counters.allocated_tokens}]`;
}

/** A recorded event as `POST /v1/usage` describes it; the rest of its row comes from the subscription it metered. */
export interface LiveUsageEvent {
  shop_id: ShopId;
  event_id: string;
  user_id: string;
  tokens: number;
  input_tokens: number | null;
  output_tokens: number | null;
  model: string | null;
  enforce: boolean;
  cached_input_tokens: number | null;
  input_weight: number | null;
  cached_input_weight: number | null;
  output_weight: number | null;
}

/**
 * The common case of recording an event, at once: the live subscription of
 * (shop, user) takes the usage as `addUsageToLive` decides, today's rollup
 * grows, and the event is stored with the counters after it (`storedCounters`'
 * format), unless its (shop, event_id) exists. On PostgreSQL this is one
 * statement (a data-modifying CTE), on SQLite the same three statements in a
 * row. Answers `undefined` when the subscription could not take it (nothing
 * changed), and `stored: false` when the event existed (the counters and the
 * rollup changed: the caller rolls back).
 */
export async function recordLiveUsage(
  q: Queryable,
  dialect: Dialect,
  event: LiveUsageEvent,
  now: number,
  day: string,
): Promise<{ sub: MeteredLive; stored: boolean } | undefined> {
  if (dialect === 'postgres') {
    const row = await q.one<MeteredLive & { stored: boolean }>(event.enforce ? RECORD_LIVE_ENFORCED : RECORD_LIVE, [
      event.tokens, event.shop_id, event.user_id, now, event.tokens,
      day, event.tokens,
      event.shop_id, event.event_id, event.user_id, event.tokens, event.input_tokens, event.output_tokens, event.model,
      event.enforce ? 1 : 0, day, now,
      event.cached_input_tokens, event.input_weight, event.cached_input_weight, event.output_weight,
    ]);
    if (!row) return undefined;
    const { stored, ...sub } = row;
    return { sub, stored };
  }
  const sub = await addUsageToLive(q, event.shop_id, event.user_id, now, event.tokens, event.enforce);
  if (!sub) return undefined;
  await addDailyUsage(q, sub.id, sub.current_period_start, day, event.tokens);
  const stored = await insertUsageEvent(q, {
    shop_id: event.shop_id, event_id: event.event_id, subscription_id: sub.id, user_id: event.user_id, tokens: event.tokens,
    input_tokens: event.input_tokens, output_tokens: event.output_tokens, model: event.model, enforce: event.enforce ? 1 : 0,
    reservation_id: null, period_start: sub.current_period_start, day, created_at: now, request_hash: '',
    result: storedCounters(sub), cached_input_tokens: event.cached_input_tokens, input_weight: event.input_weight,
    cached_input_weight: event.cached_input_weight, output_weight: event.output_weight,
  });
  return { sub, stored };
}

// PostgreSQL runs every part of a data-modifying WITH, referenced or not, on one snapshot;
// the subscription's row lock, taken first, orders it with every other change of the counters.
const recordLiveSql = (guard: string) => `WITH metered AS (
    ${addUsageToLiveSql(guard)}
  ), rollup AS (
    INSERT INTO daily_usage (subscription_id, period_start, day, tokens, queries)
    SELECT id, current_period_start, ?::text, ?::bigint, 1 FROM metered
    ON CONFLICT (subscription_id, period_start, day)
    DO UPDATE SET tokens = daily_usage.tokens + excluded.tokens, queries = daily_usage.queries + 1
  ), stored AS (
    INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, input_tokens, output_tokens, model,
      enforce, reservation_id, period_start, day, created_at, request_hash, result,
      cached_input_tokens, input_weight, cached_input_weight, output_weight)
    SELECT ?::text, ?::text, id, ?::text, ?::bigint, ?::bigint, ?::bigint, ?::text, ?::integer, NULL, current_period_start,
      ?::text, ?::bigint, '', '[' || used_tokens || ',' || reserved_tokens || ',' || allocated_tokens || ']',
      ?::bigint, ?::bigint, ?::bigint, ?::bigint
    FROM metered
    ON CONFLICT (shop_id, event_id) DO NOTHING
    RETURNING 1
  )
  SELECT metered.*, EXISTS (SELECT 1 FROM stored) AS stored FROM metered`;
const RECORD_LIVE = recordLiveSql(BELOW_CEILING);
const RECORD_LIVE_ENFORCED = recordLiveSql(FITS);

/** Places a hold in one statement, only while the allowance covers it. */
export async function addHold(q: Queryable, subscriptionId: string, periodStart: number, tokens: number): Promise<Counters | undefined> {
  return q.one<Counters>(
    `UPDATE subscriptions SET reserved_tokens = reserved_tokens + ?
     WHERE id = ? AND current_period_start = ? AND ${FITS}
     RETURNING ${COUNTERS}`,
    [tokens, subscriptionId, periodStart, tokens],
  );
}

export async function freeHold(q: Queryable, subscriptionId: string, tokens: number): Promise<Counters | undefined> {
  return q.one<Counters>(
    `UPDATE subscriptions SET reserved_tokens = CASE WHEN reserved_tokens > ? THEN reserved_tokens - ? ELSE 0 END
     WHERE id = ? RETURNING ${COUNTERS}`,
    [tokens, tokens, subscriptionId],
  );
}

export async function addDailyUsage(q: Queryable, subscriptionId: string, periodStart: number, day: string, tokens: number): Promise<void> {
  await q.run(
    `INSERT INTO daily_usage (subscription_id, period_start, day, tokens, queries) VALUES (?, ?, ?, ?, 1)
     ON CONFLICT (subscription_id, period_start, day)
     DO UPDATE SET tokens = daily_usage.tokens + excluded.tokens, queries = daily_usage.queries + 1`,
    [subscriptionId, periodStart, day, tokens],
  );
}

/** Whole days' rollups, as imported, in one statement; an existing row for a day is kept. */
export async function insertDailyUsage(
  q: Queryable,
  subscriptionId: string,
  periodStart: number,
  points: ReadonlyArray<{ date: string; tokens: number; queries: number }>,
): Promise<void> {
  if (points.length === 0) return;
  await q.run(
    `INSERT INTO daily_usage (subscription_id, period_start, day, tokens, queries)
     VALUES ${points.map(() => '(?, ?, ?, ?, ?)').join(', ')}
     ON CONFLICT (subscription_id, period_start, day) DO NOTHING`,
    points.flatMap((p) => [subscriptionId, periodStart, p.date, p.tokens, p.queries]),
  );
}

/** Inserts the event unless (shop, event_id) exists; answers whether it was new. */
export async function insertUsageEvent(q: Queryable, event: UsageEventRow): Promise<boolean> {
  const changed = await q.run(
    `INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, input_tokens, output_tokens, model,
       enforce, reservation_id, period_start, day, created_at, request_hash, result,
       cached_input_tokens, input_weight, cached_input_weight, output_weight)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop_id, event_id) DO NOTHING`,
    [event.shop_id, event.event_id, event.subscription_id, event.user_id, event.tokens, event.input_tokens,
      event.output_tokens, event.model, event.enforce, event.reservation_id, event.period_start, event.day,
      event.created_at, event.request_hash, event.result,
      event.cached_input_tokens, event.input_weight, event.cached_input_weight, event.output_weight],
  );
  return changed === 1;
}

export async function setUsageEventResult(q: Queryable, shop: ShopId, eventId: string, result: string): Promise<void> {
  await q.run('UPDATE usage_events SET result = ? WHERE shop_id = ? AND event_id = ?', [result, shop, eventId]);
}

export async function findUsageEvent(q: Queryable, shop: ShopId, eventId: string): Promise<UsageEventRow | undefined> {
  return q.one<UsageEventRow>('SELECT * FROM usage_events WHERE shop_id = ? AND event_id = ?', [shop, eventId]);
}

export async function listUsageEvents(
  q: Queryable,
  filter: { shop?: ShopId; userId?: string; from?: number; to?: number; after?: { created_at: number; event_id: string }; limit: number },
): Promise<UsageEventRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.shop !== undefined) {
    where.push('shop_id = ?');
    params.push(filter.shop);
  }
  if (filter.userId !== undefined) {
    where.push('user_id = ?');
    params.push(filter.userId);
  }
  if (filter.from !== undefined) {
    where.push('created_at >= ?');
    params.push(filter.from);
  }
  if (filter.to !== undefined) {
    where.push('created_at < ?');
    params.push(filter.to);
  }
  if (filter.after) {
    where.push('(created_at > ? OR (created_at = ? AND event_id > ?))');
    params.push(filter.after.created_at, filter.after.created_at, filter.after.event_id);
  }
  params.push(filter.limit);
  return q.all<UsageEventRow>(
    `SELECT * FROM usage_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, event_id LIMIT ?`,
    params,
  );
}

export interface DailyRow {
  date: string;
  tokens: number;
  queries: number;
}

export async function periodDailyUsage(q: Queryable, subscriptionId: string, periodStart: number): Promise<DailyRow[]> {
  return q.all<DailyRow>(
    'SELECT day AS date, tokens, queries FROM daily_usage WHERE subscription_id = ? AND period_start = ? ORDER BY day',
    [subscriptionId, periodStart],
  );
}

/** One subscription's usage per UTC day from `from` to `to` (both included); a day two periods share is summed. */
export async function dailyUsageRange(q: Queryable, subscriptionId: string, from: string, to: string): Promise<DailyRow[]> {
  return q.all<DailyRow>(
    `SELECT day AS date, SUM(tokens) AS tokens, SUM(queries) AS queries
     FROM daily_usage WHERE subscription_id = ? AND day >= ? AND day <= ?
     GROUP BY day ORDER BY day`,
    [subscriptionId, from, to],
  );
}

export type ReservationStatus = 'active' | 'committed' | 'released' | 'expired';

export interface ReservationRow {
  shop_id: string;
  id: string;
  subscription_id: string;
  user_id: string;
  tokens: number;
  status: ReservationStatus;
  expires_at: number;
  created_at: number;
  request_hash: string;
  committed_tokens: number | null;
  event_id: string | null;
  commit_hash: string | null;
  commit_result: string | null;
  settled_at: number | null;
}

export async function insertReservation(q: Queryable, r: ReservationRow): Promise<boolean> {
  const changed = await q.run(
    `INSERT INTO reservations (shop_id, id, subscription_id, user_id, tokens, status, expires_at, created_at, request_hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop_id, id) DO NOTHING`,
    [r.shop_id, r.id, r.subscription_id, r.user_id, r.tokens, r.status, r.expires_at, r.created_at, r.request_hash],
  );
  return changed === 1;
}

/** The shops holding a reservation with this id (at most two: enough to tell unique from ambiguous). */
export async function reservationShops(q: Queryable, id: string): Promise<string[]> {
  const rows = await q.all<{ shop_id: string }>('SELECT shop_id FROM reservations WHERE id = ? LIMIT 2', [id]);
  return rows.map((r) => r.shop_id);
}

export async function findReservation(q: Queryable, shop: ShopId, id: string, lock = ''): Promise<ReservationRow | undefined> {
  return q.one<ReservationRow>(`SELECT * FROM reservations WHERE shop_id = ? AND id = ?${lock}`, [shop, id]);
}

export async function countActiveHolds(q: Queryable, subscriptionId: string): Promise<number> {
  const row = await q.one<{ n: number }>(
    `SELECT COUNT(*) AS n FROM reservations WHERE subscription_id = ? AND status = 'active'`,
    [subscriptionId],
  );
  return Number(row?.n ?? 0);
}

export async function activeHolds(q: Queryable, subscriptionId: string): Promise<Array<{ shop_id: string; id: string; tokens: number }>> {
  return q.all(`SELECT shop_id, id, tokens FROM reservations WHERE subscription_id = ? AND status = 'active'`, [subscriptionId]);
}

export async function expiredHolds(q: Queryable, subscriptionId: string, now: number): Promise<Array<{ shop_id: string; id: string; tokens: number }>> {
  return q.all(
    `SELECT shop_id, id, tokens FROM reservations WHERE subscription_id = ? AND status = 'active' AND expires_at <= ?`,
    [subscriptionId, now],
  );
}

/** Moves a reservation out of `active`; answers false when it was no longer active. */
export async function settleReservation(
  q: Queryable,
  shop: string,
  id: string,
  status: Exclude<ReservationStatus, 'active'>,
  now: number,
  fromStatus: ReservationStatus = 'active',
): Promise<boolean> {
  const changed = await q.run(
    'UPDATE reservations SET status = ?, settled_at = ? WHERE shop_id = ? AND id = ? AND status = ?',
    [status, now, shop, id, fromStatus],
  );
  return changed === 1;
}

export async function recordCommit(
  q: Queryable,
  shop: ShopId,
  id: string,
  commit: { committed_tokens: number; event_id: string; commit_hash: string; commit_result: string; now: number },
): Promise<void> {
  await q.run(
    `UPDATE reservations SET status = 'committed', committed_tokens = ?, event_id = ?, commit_hash = ?, commit_result = ?, settled_at = ?
     WHERE shop_id = ? AND id = ?`,
    [commit.committed_tokens, commit.event_id, commit.commit_hash, commit.commit_result, commit.now, shop, id],
  );
}

export async function subscriptionsWithExpiredHolds(q: Queryable, now: number, limit: number): Promise<string[]> {
  const rows = await q.all<{ subscription_id: string }>(
    `SELECT DISTINCT subscription_id FROM reservations WHERE status = 'active' AND expires_at <= ? LIMIT ?`,
    [now, limit],
  );
  return rows.map((r) => r.subscription_id);
}
