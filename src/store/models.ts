/**
 * SQL for model rates (weights in millionths) and the by-model daily rollup.
 *
 * Pricing reads the rates inside the usage event's own transaction, so no
 * server ever charges with weights another server has since changed. One
 * shortcut keeps a database without rates as fast as before: the fact "no
 * rate was ever written" is kept in the transaction's memo (SQLite runs a
 * batch of units in one transaction), and every write of a rate deletes it.
 * Invariant: the fact is only ever held while `model_rates` is empty within
 * that same transaction. PostgreSQL has no memo and reads every time.
 */
import type { Weights } from '../domain/rates.ts';
import type { Queryable } from './db.ts';

export interface RateRow extends Weights {
  model: string;
  effective_from: number;
  /** Null while the weights are in force. */
  effective_to: number | null;
}

const RATE_COLUMNS = 'model, effective_from, effective_to, input_weight, cached_input_weight, output_weight';
const IN_FORCE = '(effective_from <= ? AND (effective_to IS NULL OR effective_to > ?))';

/** The model's open row (the weights it has now), if any. */
export async function openRate(q: Queryable, model: string, lock = ''): Promise<RateRow | undefined> {
  return q.one<RateRow>(`SELECT ${RATE_COLUMNS} FROM model_rates WHERE model = ? AND effective_to IS NULL${lock}`, [model]);
}

/** The model's most recent row, open or closed. */
export async function latestRate(q: Queryable, model: string): Promise<RateRow | undefined> {
  return q.one<RateRow>(`SELECT ${RATE_COLUMNS} FROM model_rates WHERE model = ? ORDER BY effective_from DESC LIMIT 1`, [model]);
}

const NO_RATES_FACT = 'model_rates empty';

/** Inserts an open row; answers false when the model already has one (or a row from that instant). */
export async function insertRate(q: Queryable, row: Weights & { model: string; effective_from: number }): Promise<boolean> {
  q.memo?.delete(NO_RATES_FACT);
  const changed = await q.run(
    `INSERT INTO model_rates (${RATE_COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?) ON CONFLICT DO NOTHING`,
    [row.model, row.effective_from, row.input_weight, row.cached_input_weight, row.output_weight],
  );
  return changed === 1;
}

/** Ends the row that began at `effectiveFrom`, guarded on it still being open; answers whether it was. */
export async function closeRate(q: Queryable, model: string, effectiveFrom: number, at: number): Promise<boolean> {
  q.memo?.delete(NO_RATES_FACT);
  const changed = await q.run(
    'UPDATE model_rates SET effective_to = ? WHERE model = ? AND effective_from = ? AND effective_to IS NULL',
    [at, model, effectiveFrom],
  );
  return changed === 1;
}

/**
 * Gives the row that began at `effectiveFrom` new weights and opens it, guarded
 * on its end being still `effectiveTo`: for a change within the instant a row
 * began, which leaves no span of time to keep in the history.
 */
export async function rewriteRate(q: Queryable, row: RateRow, weights: Weights): Promise<boolean> {
  q.memo?.delete(NO_RATES_FACT);
  const changed = await q.run(
    `UPDATE model_rates SET input_weight = ?, cached_input_weight = ?, output_weight = ?, effective_to = NULL
     WHERE model = ? AND effective_from = ? AND effective_to ${row.effective_to === null ? 'IS NULL' : '= ?'}`,
    [weights.input_weight, weights.cached_input_weight, weights.output_weight, row.model, row.effective_from,
      ...(row.effective_to === null ? [] : [row.effective_to])],
  );
  return changed === 1;
}

/** Models with weights now, by id, after `after`. */
export async function listOpenRates(q: Queryable, page: { after?: string; limit: number }): Promise<RateRow[]> {
  return q.all<RateRow>(
    `SELECT ${RATE_COLUMNS} FROM model_rates WHERE effective_to IS NULL AND model > ? ORDER BY model LIMIT ?`,
    [page.after ?? '', page.limit],
  );
}

/** The closed rows of these models, newest first per model. */
export async function closedRates(q: Queryable, models: readonly string[]): Promise<RateRow[]> {
  if (models.length === 0) return [];
  return q.all<RateRow>(
    `SELECT ${RATE_COLUMNS} FROM model_rates WHERE model IN (${models.map(() => '?').join(', ')}) AND effective_to IS NOT NULL
     ORDER BY model, effective_from DESC`,
    models,
  );
}

/** What pricing an event at an instant finds: the model's own weights, the `*` weights, and whether any rate is in force. */
export interface RatesInForce {
  own: RateRow | undefined;
  fallback: RateRow | undefined;
  any: boolean;
}

/**
 * The rates in force at `at` for `model` (none given: only `*`), in one
 * statement: the model's row, the `*` row, and a marker row with a NULL model
 * when any rate at all is in force.
 */
export async function ratesInForce(q: Queryable, model: string | null, defaultModel: string, at: number): Promise<RatesInForce> {
  if (q.memo && (await neverRated(q, q.memo))) return { own: undefined, fallback: undefined, any: false };
  const rows = await q.all<RateRow & { model: string | null }>(
    `SELECT ${RATE_COLUMNS} FROM model_rates WHERE model IN (?, ?) AND ${IN_FORCE}
     UNION ALL
     SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE EXISTS (SELECT 1 FROM model_rates WHERE ${IN_FORCE})`,
    [model ?? defaultModel, defaultModel, at, at, at, at],
  );
  let own: RateRow | undefined;
  let fallback: RateRow | undefined;
  for (const row of rows) {
    if (row.model === null) continue;
    if (row.model === defaultModel) fallback = row;
    if (model !== null && row.model === model) own = row;
  }
  return { own, fallback, any: rows.length > 0 };
}

/** Whether `model_rates` is empty, read once per transaction (see the module header). */
async function neverRated(q: Queryable, memo: Map<string, unknown>): Promise<boolean> {
  const known = memo.get(NO_RATES_FACT);
  if (known !== undefined) return known === true;
  const empty = (await q.one('SELECT 1 AS one FROM model_rates LIMIT 1')) === undefined;
  memo.set(NO_RATES_FACT, empty);
  return empty;
}

export interface ModelUsage {
  model: string;
  events: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  tokens: number;
}

/** Adds one event to the (subscription, period, day, model) rollup, in one statement. */
export async function addModelUsage(
  q: Queryable,
  subscriptionId: string,
  periodStart: number,
  day: string,
  usage: Omit<ModelUsage, 'events'>,
): Promise<void> {
  await q.run(
    `INSERT INTO daily_model_usage (subscription_id, period_start, day, model, events, input_tokens, cached_input_tokens, output_tokens, tokens)
     VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)
     ON CONFLICT (subscription_id, period_start, day, model) DO UPDATE SET events = daily_model_usage.events + 1,
       input_tokens = daily_model_usage.input_tokens + excluded.input_tokens,
       cached_input_tokens = daily_model_usage.cached_input_tokens + excluded.cached_input_tokens,
       output_tokens = daily_model_usage.output_tokens + excluded.output_tokens,
       tokens = daily_model_usage.tokens + excluded.tokens`,
    [subscriptionId, periodStart, day, usage.model, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.tokens],
  );
}

const SUMS = `model, SUM(events) AS events, SUM(input_tokens) AS input_tokens, SUM(cached_input_tokens) AS cached_input_tokens,
  SUM(output_tokens) AS output_tokens, SUM(tokens) AS tokens`;

/** One period's usage per model, most tokens first. */
export async function periodModelUsage(q: Queryable, subscriptionId: string, periodStart: number): Promise<ModelUsage[]> {
  return q.all<ModelUsage>(
    `SELECT ${SUMS} FROM daily_model_usage WHERE subscription_id = ? AND period_start = ?
     GROUP BY model ORDER BY SUM(tokens) DESC, model`,
    [subscriptionId, periodStart],
  );
}

/**
 * Usage per model over the days `from` to `to` (both included), most tokens
 * first. Only the rows of periods that start after `firstPeriodStart` and by
 * `lastPeriodStart` are read: the caller bounds them by the longest period,
 * so the cost does not grow with the subscription's history.
 */
export async function modelUsageRange(
  q: Queryable,
  subscriptionId: string,
  range: { from: string; to: string; firstPeriodStart: number; lastPeriodStart: number },
): Promise<ModelUsage[]> {
  return q.all<ModelUsage>(
    `SELECT ${SUMS} FROM daily_model_usage
     WHERE subscription_id = ? AND period_start > ? AND period_start <= ? AND day >= ? AND day <= ?
     GROUP BY model ORDER BY SUM(tokens) DESC, model`,
    [subscriptionId, range.firstPeriodStart, range.lastPeriodStart, range.from, range.to],
  );
}
