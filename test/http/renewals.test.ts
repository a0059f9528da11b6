/**
 * Renewals: the sweep (POST /v1/renewals/run, `allot renew`, the background
 * sweeper) rolls every due subscription, each missed period into its own
 * summary; pending plans and cancellations apply at the boundary; two
 * sweepers on one database close each period exactly once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestClock } from '../../src/domain/clock.ts';
import { Services } from '../../src/service/context.ts';
import { runRenewals, startSweeper } from '../../src/service/renewals.ts';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres/db.ts';
import { openSqlite } from '../../src/store/sqlite/db.ts';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { dbEnv, runAllot } from '../support/process.ts';


async function periods(allot: Allot, user: string, shop = 'shop1') {
  const res = await allot.api('GET', `/v1/subscriptions/${shop}/${user}/periods?limit=100`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data as Array<Record<string, unknown>>;
}

/** Summaries straight from the database: reading them over HTTP would roll lazily and hide what the sweep did. */
async function storedSummaries(db: Db, subscriptionId: string) {
  const rows = await db.all<{ period_start: number; period_end: number; plan_id: string; allocated_tokens: number; used_tokens: number; queries: number; peak_daily_tokens: number }>(
    'SELECT period_start, period_end, plan_id, allocated_tokens, used_tokens, queries, peak_daily_tokens FROM period_summaries WHERE subscription_id = ? ORDER BY period_start',
    [subscriptionId],
  );
  return rows.map((r) => ({
    period_start: new Date(Number(r.period_start)).toISOString(),
    period_end: new Date(Number(r.period_end)).toISOString(),
    plan_id: r.plan_id,
    allocated_tokens: Number(r.allocated_tokens),
    used_tokens: Number(r.used_tokens),
    queries: Number(r.queries),
    peak_daily_tokens: Number(r.peak_daily_tokens),
  }));
}

const summary = (start: string, end: string, plan: string, allocated: number, used = 0, queries = 0, peak = 0) => ({
  period_start: start, period_end: end, plan_id: plan, allocated_tokens: allocated, used_tokens: used, queries, peak_daily_tokens: peak,
});

for (const dialect of DIALECTS) {
  test(`${dialect}: the sweep rolls missed periods, applies pending plans and cancellations`, async (t) => {
    // Anchor 2025-01-31T12:00Z: boundaries 02-28, 03-31, 04-30, 05-31 (12:00Z).
    const allot = await startAllot(dialect, { clock: '2025-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic', 'pro', 'enterprise', 'proYearly']);
    const ids: Record<string, string> = {};
    for (const [user, plan] of [['u1', 'basic'], ['u2', 'basic'], ['u3', 'basic'], ['u4', 'pro-yearly']] as const) {
      const res = await allot.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: plan });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids[user] = res.body.id;
    }
    let n = 0;
    const use = async (user: string, tokens: number) => {
      const res = await allot.api('POST', '/v1/usage', { event_id: `e${++n}`, shop_id: 'shop1', user_id: user, tokens });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    await use('u1', 1000);
    await use('u2', 7000);
    await allot.setClock('2025-02-10T08:00:00.000Z');
    await use('u1', 1500);
    await use('u1', 500);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u2', { plan_id: 'pro', when: 'period_end' })).body.pending_plan_id, 'pro');
    assert.equal((await allot.api('POST', '/v1/subscriptions/shop1/u3/cancel', { at_period_end: true })).status, 200);

    // Four boundaries pass with nobody reading: only the sweep rolls.
    await allot.setClock('2025-05-31T13:00:00.000Z');
    const sweep = await allot.api('POST', '/v1/renewals/run');
    assert.equal(sweep.status, 200, JSON.stringify(sweep.body));
    assert.equal(sweep.body.subscriptions_rolled, 4);

    assert.deepEqual(await storedSummaries(allot.testDb.db, ids.u1!), [
      // 1000 on 01-31, 1500 + 500 on 02-10: 3000 tokens, 3 queries, peak day 2000
      summary('2025-01-31T12:00:00.000Z', '2025-02-28T12:00:00.000Z', 'basic', 100_000, 3000, 3, 2000),
      summary('2025-02-28T12:00:00.000Z', '2025-03-31T12:00:00.000Z', 'basic', 100_000),
      summary('2025-03-31T12:00:00.000Z', '2025-04-30T12:00:00.000Z', 'basic', 100_000),
      summary('2025-04-30T12:00:00.000Z', '2025-05-31T12:00:00.000Z', 'basic', 100_000),
    ]);
    assert.deepEqual(await storedSummaries(allot.testDb.db, ids.u2!), [
      summary('2025-01-31T12:00:00.000Z', '2025-02-28T12:00:00.000Z', 'basic', 100_000, 7000, 1, 7000),
      summary('2025-02-28T12:00:00.000Z', '2025-03-31T12:00:00.000Z', 'pro', 400_000),
      summary('2025-03-31T12:00:00.000Z', '2025-04-30T12:00:00.000Z', 'pro', 400_000),
      summary('2025-04-30T12:00:00.000Z', '2025-05-31T12:00:00.000Z', 'pro', 400_000),
    ]);
    assert.deepEqual(await storedSummaries(allot.testDb.db, ids.u3!), [
      summary('2025-01-31T12:00:00.000Z', '2025-02-28T12:00:00.000Z', 'basic', 100_000),
    ]);
    // pro-yearly: billed yearly, tokens monthly
    assert.equal((await storedSummaries(allot.testDb.db, ids.u4!)).length, 4);

    const u1 = (await allot.api('GET', '/v1/subscriptions/shop1/u1')).body;
    assert.equal(u1.current_period_start, '2025-05-31T12:00:00.000Z');
    assert.equal(u1.current_period_end, '2025-06-30T12:00:00.000Z');
    assert.equal(u1.used_tokens, 0);
    const u2 = (await allot.api('GET', '/v1/subscriptions/shop1/u2/status?include_history=true')).body;
    assert.equal(u2.plan_id, 'pro');
    assert.equal(u2.allocated_tokens, 400_000);
    assert.equal(u2.pending_plan_id, null);
    assert.equal(u2.next_billing_amount_minor, 2999);
    assert.deepEqual(u2.plan_history, [
      { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: '2025-01-31T12:00:00.000Z', end_date: '2025-02-28T12:00:00.000Z', change_reason: 'scheduled_change' },
    ]);
    const u3 = (await allot.api('GET', '/v1/subscriptions/shop1/u3')).body;
    assert.equal(u3.status, 'canceled');
    assert.equal(u3.canceled_at, '2025-02-28T12:00:00.000Z');
    assert.equal(u3.next_billing_date, null);
    const u3Status = await allot.api('GET', '/v1/subscriptions/shop1/u3/status');
    assert.equal(u3Status.status, 200, 'a canceled subscription stays readable');
    assert.equal(u3Status.body.status, 'canceled');
    assert.equal(u3Status.body.current_period_end, '2025-02-28T12:00:00.000Z', 'its final period');
    assert.equal(u3Status.body.days_remaining_in_period, 0);
    const u4 = (await allot.api('GET', '/v1/subscriptions/shop1/u4')).body;
    assert.equal(u4.current_period_end, '2025-06-30T12:00:00.000Z');
    assert.equal(u4.next_billing_date, '2026-01-31T12:00:00.000Z');

    // Again at the same instant: nothing left to do, nothing written twice.
    const again = await allot.api('POST', '/v1/renewals/run');
    assert.equal(again.body.subscriptions_rolled, 0);
    assert.equal((await periods(allot, 'u1')).length, 4);

    // `allot renew`, a separate process on the same database, with the test clock on.
    const { stdout } = await runAllot(['renew', '--json'], dbEnv(allot.testDb.config, { ALLOT_TEST_CLOCK: '2025-06-30T12:00:00.000Z', LOG_LEVEL: 'silent' }));
    assert.equal(JSON.parse(stdout).subscriptions_rolled, 3); // u1, u2, u4 (u3 is canceled)
    assert.equal((await storedSummaries(allot.testDb.db, ids.u1!)).at(-1)!.period_end, '2025-06-30T12:00:00.000Z');

    // The background sweeper runs on the test clock too.
    const stop = startSweeper(allot.services, 0.05, (error) => assert.fail(String(error)));
    t.after(stop);
    await allot.setClock('2025-07-31T12:00:00.000Z');
    for (let i = 0; i < 400 && (await storedSummaries(allot.testDb.db, ids.u2!)).length < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await stop();
    const u2Summaries = await storedSummaries(allot.testDb.db, ids.u2!);
    assert.equal(u2Summaries.length, 6);
    assert.equal(u2Summaries.at(-1)!.period_end, '2025-07-31T12:00:00.000Z');
    // Only admins run renewals.
    const shopKey = (await allot.api('POST', '/v1/api-keys', { name: 'k', role: 'shop', shop_id: 'shop1' })).body.key;
    assert.equal((await allot.api('POST', '/v1/renewals/run', undefined, { key: shopKey })).status, 403);
  });

  test(`${dialect}: the sweep runs a page together on SQLite and only a few transactions at once on PostgreSQL`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2025-01-15T09:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    const USERS = 30;
    for (let i = 0; i < USERS; i++) assert.equal((await allot.api('PUT', `/v1/subscriptions/shop1/u${i}`, { plan_id: 'basic' })).status, 201);
    let inFlight = 0;
    let most = 0;
    const db = allot.testDb.db;
    const counting = new Proxy(db, {
      get(target, property) {
        if (property === 'transaction') {
          return <T>(work: Parameters<Db['transaction']>[0]) => {
            most = Math.max(most, ++inFlight);
            return (target.transaction(work) as Promise<T>).finally(() => inFlight--);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const report = await runRenewals(new Services(counting, new TestClock(Date.parse('2025-02-15T10:00:00.000Z'))));
    assert.equal(report.subscriptions_rolled, USERS);
    if (dialect === 'sqlite') assert.equal(most, USERS, 'one page, one batch');
    else assert.ok(most >= 2 && most <= 4, `${most} transactions at once`);
  });

  test(`${dialect}: two sweepers at once close each period exactly once`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2025-01-15T09:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    const USERS = 40;
    const subIds: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const put = await allot.api('PUT', `/v1/subscriptions/shop1/u${i}`, { plan_id: 'basic' });
      subIds.push(put.body.id);
      const use = await allot.api('POST', '/v1/usage', { event_id: `e${i}`, shop_id: 'shop1', user_id: `u${i}`, tokens: 100 + i });
      assert.equal(use.status, 200);
    }

    // A second connection (SQLite) or pool (PostgreSQL) to the same database, each with its own Services.
    const { config } = allot.testDb;
    const second: Db = dialect === 'sqlite' ? openSqlite(config.sqlitePath!) : await openPostgres(config.databaseUrl!);
    t.after(() => second.close());
    const clock = new TestClock(Date.parse('2025-04-15T10:00:00.000Z')); // three boundaries: 02-15, 03-15, 04-15
    const a = new Services(allot.testDb.db, clock);
    const b = new Services(second, clock);

    const reports = await Promise.all([runRenewals(a), runRenewals(b), runRenewals(a), runRenewals(b)]);
    // Each subscription was rolled by exactly one of the four sweeps.
    assert.equal(reports.reduce((sum, r) => sum + r.subscriptions_rolled, 0), USERS);

    const counts = await allot.testDb.db.all<{ subscription_id: string; n: number }>(
      'SELECT subscription_id, COUNT(*) AS n FROM period_summaries GROUP BY subscription_id',
    );
    assert.equal(counts.length, USERS);
    for (const row of counts) assert.equal(Number(row.n), 3, row.subscription_id);
    for (const [i, id] of subIds.entries()) {
      assert.deepEqual(
        (await storedSummaries(allot.testDb.db, id)).map((s) => [s.period_start.slice(0, 10), s.used_tokens, s.queries]),
        [['2025-01-15', 100 + i, 1], ['2025-02-15', 0, 0], ['2025-03-15', 0, 0]],
      );
    }
    const subs = await allot.testDb.db.all<{ used_tokens: number; queries: number; period_index: number; current_period_start: number }>(
      'SELECT used_tokens, queries, period_index, current_period_start FROM subscriptions',
    );
    for (const sub of subs) {
      assert.deepEqual([Number(sub.used_tokens), Number(sub.queries), Number(sub.period_index)], [0, 0, 3]);
      assert.equal(new Date(Number(sub.current_period_start)).toISOString(), '2025-04-15T09:00:00.000Z');
    }
    const repeat = await Promise.all([runRenewals(a), runRenewals(b)]);
    assert.deepEqual(repeat.map((r) => r.subscriptions_rolled), [0, 0]);
  });
}
