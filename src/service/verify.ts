/**
 * Reads the whole database and reports every broken invariant of the ledger.
 * Usage events are the truth; counters, rollups, summaries and holds must
 * all agree with them, except that a period brought in by `allot import-mongo`
 * started with counters of its own and need only cover its events. Meant for a quiet database (after a crash, a restore,
 * a migration, or a test scenario): rows written while it runs may be
 * reported as transient mismatches.
 *
 * @example
 * const report = await verifyDatabase(db);
 * if (!report.ok) for (const v of report.violations) console.error(v.invariant, v.detail);
 */
import { chargedTokens } from '../domain/rates.ts';
import type { Queryable } from '../store/db.ts';
import { unansweredKeys } from '../store/idempotency.ts';

export type Invariant =
  | 'usage_matches_events'
  | 'rollups_match_events'
  | 'summaries_match_events'
  | 'events_belong_to_a_period'
  | 'one_live_subscription'
  | 'holds_match_reservations'
  | 'commits_match_events'
  | 'counters_not_negative'
  | 'idempotency_keys_answered'
  | 'charges_match_weights'
  | 'model_rollups_match_events';

export const INVARIANTS: Record<Invariant, string> = {
  usage_matches_events: "a live subscription's used_tokens and queries equal the usage events of its current period (cover them, for an imported period)",
  rollups_match_events: 'each daily rollup (subscription, period, day) equals the usage events of that day',
  summaries_match_events: "each closed period's summary equals its usage events, and its peak is the largest daily rollup",
  events_belong_to_a_period: "each usage event belongs to its subscription's shop and user, and to its current or a closed period",
  one_live_subscription: 'at most one active or suspended subscription per (shop_id, user_id)',
  holds_match_reservations: "a subscription's reserved_tokens equal the tokens of its active reservations",
  commits_match_events: 'each committed reservation has the usage event it recorded, with the committed tokens',
  counters_not_negative: 'used_tokens, reserved_tokens and queries are never negative',
  idempotency_keys_answered: 'each stored Idempotency-Key has its answer: none is left in flight (a key commits with its work and answer)',
  charges_match_weights: "each event charged by a model's rate holds ceil(input·w_in + cached·w_cached + output·w_out) of its own counts and weights",
  model_rollups_match_events: 'each by-model daily rollup (subscription, period, day, model) equals the usage events naming that model that day',
};

export interface Violation {
  invariant: Invariant;
  /** What is broken: a subscription id, `shop/user`, `shop/event_id`, `shop/reservation_id` or `scope/Idempotency-Key`. */
  subject: string;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  checked: {
    subscriptions: number;
    usage_events: number;
    daily_rollups: number;
    period_summaries: number;
    reservations: number;
  };
  violations: Violation[];
}

const LIVE = `status IN ('active', 'suspended')`;

const EVENTS_BY_PERIOD = `SELECT subscription_id, period_start, SUM(tokens) AS tokens, COUNT(*) AS n
  FROM usage_events GROUP BY subscription_id, period_start`;

const EVENTS_BY_DAY = `SELECT subscription_id, period_start, day, SUM(tokens) AS tokens, COUNT(*) AS n
  FROM usage_events GROUP BY subscription_id, period_start, day`;

const EVENTS_BY_MODEL = `SELECT subscription_id, period_start, day, model, COUNT(*) AS n, SUM(COALESCE(input_tokens, 0)) AS input_tokens,
    SUM(COALESCE(cached_input_tokens, 0)) AS cached_input_tokens, SUM(COALESCE(output_tokens, 0)) AS output_tokens, SUM(tokens) AS tokens
  FROM usage_events WHERE model IS NOT NULL GROUP BY subscription_id, period_start, day, model`;

/** Weighted events read per query by the charge check. */
const CHARGE_PAGE = 1000;

/**
 * Counters that disagree with their events. The period an import brought in
 * (`imported_period_start`, joined as `s`) started with counters and rollups
 * but no events: there the counters must only cover the events.
 */
function mismatch(period: string, tokens: string, queries: string, eventTokens: string, events: string): string {
  const imported = `(s.imported_period_start IS NOT NULL AND s.imported_period_start = ${period})`;
  return `((${imported} AND (${tokens} < COALESCE(${eventTokens}, 0) OR ${queries} < COALESCE(${events}, 0)))
    OR (NOT ${imported} AND (${tokens} <> COALESCE(${eventTokens}, 0) OR ${queries} <> COALESCE(${events}, 0))))`;
}

type Num = number | string | null;
const n = (v: Num): number => Number(v ?? 0);

async function count(q: Queryable, table: string): Promise<number> {
  const row = await q.one<{ n: Num }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return n(row?.n ?? 0);
}

interface ChargedEvent {
  shop_id: string;
  event_id: string;
  tokens: Num;
  input_tokens: Num;
  cached_input_tokens: Num;
  output_tokens: Num;
  input_weight: Num;
  cached_input_weight: Num;
  output_weight: Num;
}

/** Recomputes every weighted event's charge from its stored counts and weights (in BigInt: the products pass 2^53). */
async function checkCharges(q: Queryable, add: (invariant: Invariant, subject: string, detail: string) => void): Promise<void> {
  let after = { shop_id: '', event_id: '' };
  for (;;) {
    const events = await q.all<ChargedEvent>(
      `SELECT shop_id, event_id, tokens, input_tokens, cached_input_tokens, output_tokens, input_weight, cached_input_weight, output_weight
       FROM usage_events WHERE input_weight IS NOT NULL AND (shop_id > ? OR (shop_id = ? AND event_id > ?))
       ORDER BY shop_id, event_id LIMIT ${CHARGE_PAGE}`,
      [after.shop_id, after.shop_id, after.event_id],
    );
    for (const e of events) {
      const expected = chargedTokens(
        { input_tokens: n(e.input_tokens), cached_input_tokens: n(e.cached_input_tokens), output_tokens: n(e.output_tokens) },
        { input_weight: n(e.input_weight), cached_input_weight: n(e.cached_input_weight), output_weight: n(e.output_weight) },
      );
      if (expected !== n(e.tokens)) {
        add('charges_match_weights', `${e.shop_id}/${e.event_id}`,
          `charged ${n(e.tokens)} tokens, but ${n(e.input_tokens)}/${n(e.cached_input_tokens)}/${n(e.output_tokens)} tokens `
          + `at weights ${n(e.input_weight)}/${n(e.cached_input_weight)}/${n(e.output_weight)} millionths cost ${expected}`);
      }
    }
    if (events.length < CHARGE_PAGE) return;
    const last = events[events.length - 1]!;
    after = { shop_id: last.shop_id, event_id: last.event_id };
  }
}

export async function verifyDatabase(q: Queryable): Promise<VerifyReport> {
  const violations: Violation[] = [];
  const add = (invariant: Invariant, subject: string, detail: string) => violations.push({ invariant, subject, detail });

  for (const r of await q.all<{ id: string; used_tokens: Num; queries: Num; tokens: Num; n: Num }>(
    `SELECT s.id, s.used_tokens, s.queries, e.tokens, e.n FROM subscriptions s
     LEFT JOIN (${EVENTS_BY_PERIOD}) e ON e.subscription_id = s.id AND e.period_start = s.current_period_start
     WHERE s.${LIVE} AND ${mismatch('s.current_period_start', 's.used_tokens', 's.queries', 'e.tokens', 'e.n')}
     ORDER BY s.id`,
  )) {
    add('usage_matches_events', r.id,
      `used_tokens ${n(r.used_tokens)} / queries ${n(r.queries)}, but the current period's events sum to ${n(r.tokens)} tokens in ${n(r.n)} events`);
  }

  for (const r of await q.all<{ subscription_id: string; period_start: Num; day: string; tokens: Num; queries: Num; e_tokens: Num; e_n: Num }>(
    `SELECT d.subscription_id, d.period_start, d.day, d.tokens, d.queries, e.tokens AS e_tokens, e.n AS e_n FROM daily_usage d
     LEFT JOIN subscriptions s ON s.id = d.subscription_id
     LEFT JOIN (${EVENTS_BY_DAY}) e ON e.subscription_id = d.subscription_id AND e.period_start = d.period_start AND e.day = d.day
     WHERE ${mismatch('d.period_start', 'd.tokens', 'd.queries', 'e.tokens', 'e.n')}
     UNION ALL
     SELECT e.subscription_id, e.period_start, e.day, 0, 0, e.tokens, e.n FROM (${EVENTS_BY_DAY}) e
     WHERE NOT EXISTS (SELECT 1 FROM daily_usage d WHERE d.subscription_id = e.subscription_id AND d.period_start = e.period_start AND d.day = e.day)
     ORDER BY 1, 2, 3`,
  )) {
    add('rollups_match_events', r.subscription_id,
      `rollup of ${r.day} (period ${new Date(n(r.period_start)).toISOString()}) says ${n(r.tokens)} tokens / ${n(r.queries)} queries, events say ${n(r.e_tokens)} / ${n(r.e_n)}`);
  }

  for (const r of await q.all<{ subscription_id: string; period_start: Num; used_tokens: Num; queries: Num; peak_daily_tokens: Num; tokens: Num; n: Num; peak: Num }>(
    `SELECT p.subscription_id, p.period_start, p.used_tokens, p.queries, p.peak_daily_tokens, e.tokens, e.n, d.peak
     FROM period_summaries p
     LEFT JOIN subscriptions s ON s.id = p.subscription_id
     LEFT JOIN (${EVENTS_BY_PERIOD}) e ON e.subscription_id = p.subscription_id AND e.period_start = p.period_start
     LEFT JOIN (SELECT subscription_id, period_start, MAX(tokens) AS peak FROM daily_usage GROUP BY subscription_id, period_start) d
       ON d.subscription_id = p.subscription_id AND d.period_start = p.period_start
     WHERE ${mismatch('p.period_start', 'p.used_tokens', 'p.queries', 'e.tokens', 'e.n')} OR p.peak_daily_tokens <> COALESCE(d.peak, 0)
     ORDER BY 1, 2`,
  )) {
    add('summaries_match_events', r.subscription_id,
      `period ${new Date(n(r.period_start)).toISOString()} summary says ${n(r.used_tokens)} tokens / ${n(r.queries)} queries / peak ${n(r.peak_daily_tokens)}, events say ${n(r.tokens)} / ${n(r.n)} / peak ${n(r.peak)}`);
  }

  for (const r of await q.all<{ shop_id: string; event_id: string; subscription_id: string; problem: string }>(
    `SELECT e.shop_id, e.event_id, e.subscription_id,
       CASE WHEN s.id IS NULL THEN 'its subscription does not exist'
            WHEN s.shop_id <> e.shop_id OR s.user_id <> e.user_id THEN 'its subscription belongs to another shop or user'
            ELSE 'its period is neither the current one nor a closed one' END AS problem
     FROM usage_events e LEFT JOIN subscriptions s ON s.id = e.subscription_id
     WHERE s.id IS NULL OR s.shop_id <> e.shop_id OR s.user_id <> e.user_id
        OR (e.period_start <> s.current_period_start
            AND NOT EXISTS (SELECT 1 FROM period_summaries p WHERE p.subscription_id = e.subscription_id AND p.period_start = e.period_start))
     ORDER BY 1, 2`,
  )) {
    add('events_belong_to_a_period', `${r.shop_id}/${r.event_id}`, `event of ${r.subscription_id}: ${r.problem}`);
  }

  for (const r of await q.all<{ shop_id: string; user_id: string; n: Num }>(
    `SELECT shop_id, user_id, COUNT(*) AS n FROM subscriptions WHERE ${LIVE} GROUP BY shop_id, user_id HAVING COUNT(*) > 1 ORDER BY 1, 2`,
  )) {
    add('one_live_subscription', `${r.shop_id}/${r.user_id}`, `${n(r.n)} live subscriptions`);
  }

  for (const r of await q.all<{ id: string; reserved_tokens: Num; held: Num; holds: Num }>(
    `SELECT s.id, s.reserved_tokens, h.held, h.holds FROM subscriptions s
     LEFT JOIN (SELECT subscription_id, SUM(tokens) AS held, COUNT(*) AS holds FROM reservations WHERE status = 'active' GROUP BY subscription_id) h
       ON h.subscription_id = s.id
     WHERE s.reserved_tokens <> COALESCE(h.held, 0)
     ORDER BY s.id`,
  )) {
    add('holds_match_reservations', r.id,
      `reserved_tokens ${n(r.reserved_tokens)}, but ${n(r.holds)} active reservations hold ${n(r.held)}`);
  }
  for (const r of await q.all<{ shop_id: string; id: string }>(
    `SELECT r.shop_id, r.id FROM reservations r LEFT JOIN subscriptions s ON s.id = r.subscription_id
     WHERE s.id IS NULL OR s.shop_id <> r.shop_id OR s.user_id <> r.user_id ORDER BY 1, 2`,
  )) {
    add('holds_match_reservations', `${r.shop_id}/${r.id}`, 'the reservation names a subscription of another shop or user, or none');
  }

  for (const r of await q.all<{ shop_id: string; id: string; committed_tokens: Num; event_id: string | null; tokens: Num; reservation_id: string | null; found: Num }>(
    `SELECT r.shop_id, r.id, r.committed_tokens, r.event_id, e.tokens, e.reservation_id, CASE WHEN e.event_id IS NULL THEN 0 ELSE 1 END AS found
     FROM reservations r LEFT JOIN usage_events e ON e.shop_id = r.shop_id AND e.event_id = r.event_id
     WHERE r.status = 'committed'
       AND (e.event_id IS NULL OR e.tokens <> r.committed_tokens OR e.reservation_id IS NULL OR e.reservation_id <> r.id)
     ORDER BY 1, 2`,
  )) {
    add('commits_match_events', `${r.shop_id}/${r.id}`,
      n(r.found) === 0
        ? `committed ${n(r.committed_tokens)} tokens as event ${r.event_id ?? '(none)'}, which does not exist`
        : `committed ${n(r.committed_tokens)} tokens, but event ${r.event_id} records ${n(r.tokens)} for reservation ${r.reservation_id ?? '(none)'}`);
  }

  for (const r of await q.all<{ id: string; used_tokens: Num; reserved_tokens: Num; queries: Num }>(
    'SELECT id, used_tokens, reserved_tokens, queries FROM subscriptions WHERE used_tokens < 0 OR reserved_tokens < 0 OR queries < 0 ORDER BY id',
  )) {
    add('counters_not_negative', r.id, `used_tokens ${n(r.used_tokens)}, reserved_tokens ${n(r.reserved_tokens)}, queries ${n(r.queries)}`);
  }

  for (const r of await unansweredKeys(q)) {
    add('idempotency_keys_answered', `${r.scope}/${r.key}`,
      `the key is ${r.state === 'done' ? 'done without a stored answer' : 'in flight'}: a retry could not replay what its work did`);
  }

  await checkCharges(q, add);

  for (const r of await q.all<{ subscription_id: string; day: string; model: string; rollup: string; events: string }>(
    `SELECT d.subscription_id, d.day, d.model,
       d.events || '/' || d.input_tokens || '/' || d.cached_input_tokens || '/' || d.output_tokens || '/' || d.tokens AS rollup,
       COALESCE(e.n || '/' || e.input_tokens || '/' || e.cached_input_tokens || '/' || e.output_tokens || '/' || e.tokens, '0/0/0/0/0') AS events
     FROM daily_model_usage d
     LEFT JOIN (${EVENTS_BY_MODEL}) e
       ON e.subscription_id = d.subscription_id AND e.period_start = d.period_start AND e.day = d.day AND e.model = d.model
     WHERE e.n IS NULL OR d.events <> e.n OR d.input_tokens <> e.input_tokens OR d.cached_input_tokens <> e.cached_input_tokens
        OR d.output_tokens <> e.output_tokens OR d.tokens <> e.tokens
     UNION ALL
     SELECT e.subscription_id, e.day, e.model, 'none',
       e.n || '/' || e.input_tokens || '/' || e.cached_input_tokens || '/' || e.output_tokens || '/' || e.tokens
     FROM (${EVENTS_BY_MODEL}) e
     WHERE NOT EXISTS (SELECT 1 FROM daily_model_usage d
       WHERE d.subscription_id = e.subscription_id AND d.period_start = e.period_start AND d.day = e.day AND d.model = e.model)
     ORDER BY 1, 2, 3`,
  )) {
    add('model_rollups_match_events', r.subscription_id,
      `${r.model} on ${r.day}: rollup says ${r.rollup}, events say ${r.events} (events/input/cached/output/tokens)`);
  }

  return {
    ok: violations.length === 0,
    checked: {
      subscriptions: await count(q, 'subscriptions'),
      usage_events: await count(q, 'usage_events'),
      daily_rollups: await count(q, 'daily_usage'),
      period_summaries: await count(q, 'period_summaries'),
      reservations: await count(q, 'reservations'),
    },
    violations,
  };
}
