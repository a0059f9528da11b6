/**
 * Data generators that write rows straight into an allot SQLite file (the
 * server stopped), for figures about read cost where driving every row
 * through HTTP would only measure the write path again.
 */
import Database from 'better-sqlite3';
import { DAY_MS, isoDay } from '../src/domain/clock.ts';

/**
 * Gives the subscription `days` daily rollups ending on `lastDay` and
 * `events` usage events spread over them, each day in the period that holds
 * it; the subscription's counters match its current period's rollups.
 */
export function seedHistory(path: string, subscriptionId: string, options: { firstDayNoon: number; days: number; events: number }): void {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const sub = db.prepare('SELECT shop_id, user_id, current_period_start FROM subscriptions WHERE id = ?').get(subscriptionId) as
      { shop_id: string; user_id: string; current_period_start: number };
    const starts = (db.prepare('SELECT period_start FROM period_summaries WHERE subscription_id = ?').all(subscriptionId) as Array<{ period_start: number }>)
      .map((r) => r.period_start)
      .concat(sub.current_period_start)
      .sort((a, b) => a - b);
    const periodOf = (instant: number) => starts.filter((s) => s <= instant).at(-1) ?? starts[0]!;
    const insertEvent = db.prepare(
      `INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, input_tokens, output_tokens, model,
         enforce, reservation_id, period_start, day, created_at, request_hash, result)
       VALUES (?, ?, ?, ?, ?, NULL, NULL, 'seed-model', 0, NULL, ?, ?, ?, 'seed', '{}')`,
    );
    const insertDaily = db.prepare(
      `INSERT INTO daily_usage (subscription_id, period_start, day, tokens, queries) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (subscription_id, period_start, day) DO UPDATE SET tokens = excluded.tokens, queries = excluded.queries`,
    );
    db.transaction(() => {
      let seq = 0;
      let used = 0;
      let queries = 0;
      for (let d = 0; d < options.days; d++) {
        const noon = options.firstDayNoon + d * DAY_MS;
        const periodStart = periodOf(noon);
        const day = isoDay(noon);
        const count = Math.floor(options.events / options.days) + (d < options.events % options.days ? 1 : 0);
        let tokens = 0;
        for (let i = 0; i < count; i++) {
          const t = 1 + ((seq * 7919) % 50);
          insertEvent.run(sub.shop_id, `seed-${subscriptionId}-${seq++}`, subscriptionId, sub.user_id, t, periodStart, day, noon + i);
          tokens += t;
        }
        insertDaily.run(subscriptionId, periodStart, day, tokens, count);
        if (periodStart === sub.current_period_start) {
          used += tokens;
          queries += count;
        }
      }
      db.prepare('UPDATE subscriptions SET used_tokens = ?, queries = ? WHERE id = ?').run(used, queries, subscriptionId);
    })();
  } finally {
    db.close();
  }
}

/**
 * Copies one subscription `count - 1` times (new ids and users, same plan
 * and period), so `count` subscriptions fall due together.
 */
export function cloneSubscriptions(path: string, templateId: string, count: number): void {
  const db = new Database(path);
  try {
    const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('subscriptions') as Array<{ name: string }>).map((c) => c.name);
    const select = columns.map((c) => (c === 'id' ? `printf('%s-%07d', t.id, n.i)` : c === 'user_id' ? `printf('%s-%07d', t.user_id, n.i)` : `t.${c}`));
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO subscriptions (${columns.join(', ')}) SELECT ${select.join(', ')} FROM n, subscriptions t WHERE t.id = ?`,
    ).run(count - 1, templateId);
  } finally {
    db.close();
  }
}
