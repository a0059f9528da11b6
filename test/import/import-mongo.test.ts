/**
 * `allot import-mongo` as a new user would run it: import the sample export
 * in test/fixtures/seed-export with the real CLI, read the imported
 * subscriptions over HTTP, let their periods roll, import again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ImportReport } from '../../src/import/run.ts';
import { DIALECTS, openTestDb, type TestDb } from '../support/dialects.ts';
import { startAllot, type Allot } from '../support/harness.ts';
import { dbEnv, runAllot } from '../support/process.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/seed-export/', import.meta.url));
const NOW = '2026-03-10T12:00:00.000Z';

const env = (testDb: TestDb) => dbEnv(testDb.config, { ALLOT_TEST_CLOCK: NOW, LOG_LEVEL: 'silent' });

async function importSample(testDb: TestDb, ...extra: string[]): Promise<{ report: ImportReport; stderr: string }> {
  const { code, stdout, stderr } = await runAllot(
    ['import-mongo', '--subscriptions', `${FIXTURES}subscriptions.json`, '--token-usage', `${FIXTURES}token_usage.ndjson`, '--json', ...extra],
    env(testDb),
  );
  assert.equal(code, 0, stderr);
  return { report: JSON.parse(stdout) as ImportReport, stderr };
}

for (const dialect of DIALECTS) {
  test(`${dialect}: import the seed's export, read it back, roll on, import again`, async (t) => {
    const testDb = await openTestDb(dialect);
    let allot: Allot | undefined;
    t.after(() => (allot ? allot.close() : testDb.cleanup()));

    const { report, stderr } = await importSample(testDb, '--progress');
    assert.match(stderr, /importing \[#{30}\] 5\/5 subscriptions/);
    assert.deepEqual(report.plans.created, ['basic', 'pro', 'pro-2', 'enterprise']);
    assert.deepEqual(report.plans.renamed.map((r) => [r.plan_name, r.plan_id]), [['pro', 'pro-2']]);
    assert.deepEqual(report.subscriptions, { read: 8, imported: 5, already_imported: 0, skipped: 3 });
    assert.deepEqual(report.token_usage, { read: 9, imported: 5, skipped: 4 });
    assert.equal(report.daily_usage_days, 13 + 11 + 2 + 2 + 1);
    assert.equal(report.plan_history_entries, 2);
    assert.deepEqual(
      report.skipped.map((s) => [s.collection, s.line, s.reason.replace(/ \(.*/, '')]),
      [
        ['subscriptions', 28, 'duplicate _id'],
        ['subscriptions', 29, 'duplicate live subscription for shop shop_alpha, user user_1001'],
        ['subscriptions', 30, 'allocated_tokens must be an integer from 0 to 10^12, got "lots"'],
        ['token_usage', 6, 'duplicate usage for subscription 65f0a1b2c3d4e5f601000001'],
        ['token_usage', 7, 'its subscription 65f0a1b2c3d4e5f601000006 was skipped'],
        ['token_usage', 8, 'no subscription 65f0a1b2c3d4e5f6010000ff in the export'],
        ['token_usage', 9, 'malformed JSON: the document is cut off'],
      ],
    );
    assert.deepEqual(report.unknown_fields, [
      { collection: 'subscriptions', field: '__v', documents: 1 },
      { collection: 'subscriptions', field: 'coupon_code', documents: 1 },
    ]);
    assert.deepEqual(report.warnings, ['subscription 65f0a1b2c3d4e5f601000003: used_tokens 120000 kept, though its daily usage adds up to 2000']);

    allot = await startAllot(dialect, { clock: NOW, testDb });

    const plans = (await allot.api('GET', '/v1/plans')).body.data;
    assert.deepEqual(
      plans.map((p: any) => [p.id, p.display_name, p.allocated_tokens, p.price_minor, p.billing_cycle, p.allowance_interval, p.tier]),
      [
        ['basic', 'Basic Plan', 100_000, 999, 'monthly', 'month', 1],
        ['enterprise', 'Enterprise Plan', 2_000_000, 9999, 'monthly', 'month', 3],
        ['pro', 'Pro Plan', 400_000, 2999, 'monthly', 'month', 2],
        ['pro-2', 'Pro Plan (yearly)', 400_000, 29990, 'yearly', 'year', 2],
      ],
    );

    // user_1001: the seed showed 61 500 of 100 000 used in the period 02-14T09:30 → 03-16T09:30 (30 days).
    const s1 = (await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1001/status?include_history=true')).body;
    assert.equal(s1.current_usage, 61_500);
    assert.equal(s1.used_tokens, 61_500);
    assert.equal(s1.remaining_tokens, 38_500);
    assert.equal(s1.usage_percentage, 61.5);
    assert.equal(s1.plan_id, 'basic');
    assert.equal(s1.price_minor, 999);
    assert.equal(s1.started_at, '2026-01-15T09:30:00.000Z');
    assert.equal(s1.current_period_start, '2026-02-14T09:30:00.000Z');
    assert.equal(s1.current_period_end, '2026-03-16T09:30:00.000Z');
    assert.equal(s1.next_billing_date, '2026-03-16T09:30:00.000Z');
    assert.equal(s1.days_remaining_in_period, 5); // 03-16T09:30 − 03-10T12:00 = 5 d 21.5 h
    assert.equal(s1.avg_daily_usage, 4428.57); // 03-04…03-10: (3000 + 4000 + 2500 + 0 + 6000 + 7500 + 8000) / 7
    assert.equal(s1.projected_usage, 83_643); // round(61 500 + 4428.57 · 5)
    assert.equal(s1.projected_exhaustion_date, null); // ceil(38 500 / 4428.57) = 9 days: after the period end
    assert.equal(s1.usage_trend, 'increasing'); // 21 500 vs 6500
    assert.deepEqual(s1.alerts.map((a: any) => a.code), ['usage_moderate']);
    assert.deepEqual(s1.recommendations.map((r: any) => r.code), ['usage_increasing', 'high_tokens_per_query']);
    assert.equal(s1.usage_history.total_queries, 195);
    assert.equal(s1.usage_history.avg_tokens_per_query, 315.38); // 61 500 / 195
    assert.equal(s1.usage_history.peak_daily_usage, 8000);
    assert.equal(s1.usage_history.daily.length, 25); // 02-14 … 03-10
    assert.deepEqual(
      s1.usage_history.daily.filter((d: any) => d.tokens > 0).map((d: any) => [d.date.slice(5), d.tokens, d.queries]),
      [['02-14', 2000, 8], ['02-16', 3500, 12], ['02-20', 4000, 15], ['02-23', 5000, 20], ['02-26', 4500, 15], ['03-01', 6000, 20],
        ['03-03', 5500, 20], ['03-04', 3000, 10], ['03-05', 4000, 15], ['03-06', 2500, 10], ['03-08', 6000, 20], ['03-09', 7500, 20], ['03-10', 8000, 10]],
    );
    assert.deepEqual(s1.plan_history, []);

    // user_1002 upgraded from basic in the seed: 352 000 of 400 000 used.
    const s2 = (await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1002/status?include_history=true')).body;
    assert.equal(s2.current_usage, 352_000);
    assert.equal(s2.usage_percentage, 88);
    assert.equal(s2.avg_daily_usage, 23_142.86); // 03-04…03-10: 162 000 / 7
    assert.equal(s2.projected_exhaustion_date, '2026-03-13'); // ceil(48 000 / 23 142.86) = 3 days
    assert.equal(s2.usage_trend, 'decreasing'); // 62 000 vs 100 000
    assert.deepEqual(s2.alerts.map((a: any) => [a.type, a.code]), [['warning', 'usage_high']]);
    assert.deepEqual(s2.recommendations[0], { code: 'upgrade', message: 'Consider upgrading to Enterprise Plan for 5x more tokens', plan_id: 'enterprise' });
    assert.equal(s2.usage_history.avg_tokens_per_query, 500);
    assert.deepEqual(s2.plan_history, [
      { plan_id: 'basic', allocated_tokens: 100_000, price_minor: 999, start_date: '2025-12-20T14:00:00.000Z', end_date: '2026-02-03T10:15:00.000Z', change_reason: 'upgrade' },
    ]);

    // user_1003: billed yearly with the seed's yearly allowance.
    const s3 = (await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1003')).body;
    assert.deepEqual(
      [s3.plan_id, s3.billing_cycle, s3.allowance_interval, s3.allocated_tokens, s3.used_tokens, s3.current_period_end, s3.next_billing_date],
      ['pro-2', 'yearly', 'year', 400_000, 120_000, '2026-06-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z'],
    );

    const s4 = (await allot.api('GET', '/v1/subscriptions/shop_beta/user_2001/status?include_history=true')).body;
    assert.equal(s4.status, 'suspended');
    assert.deepEqual(s4.alerts.map((a: any) => a.code), ['subscription_suspended']);
    assert.equal(s4.plan_history[0].plan_id, 'pro');
    assert.equal(s4.plan_history[0].price_minor, 2999);

    const s5 = (await allot.api('GET', '/v1/subscriptions/shop_beta/user_2002')).body;
    assert.equal(s5.status, 'canceled');
    assert.equal(s5.canceled_at, '2026-01-02T09:00:00.000Z');
    const s5Periods = (await allot.api('GET', '/v1/subscriptions/shop_beta/user_2002/periods')).body.data;
    assert.deepEqual(s5Periods.map((p: any) => [p.period_start, p.period_end, p.used_tokens, p.queries, p.peak_daily_tokens]), [
      ['2025-12-06T10:00:00.000Z', '2026-01-02T09:00:00.000Z', 4200, 9, 4200],
    ]);
    // A canceled subscription does not block a new one.
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop_beta/user_2002', { plan_id: 'basic' })).status, 201);

    // Metering goes on from the imported usage.
    const use = await allot.api('POST', '/v1/usage', { event_id: 'after-import', shop_id: 'shop_alpha', user_id: 'user_1002', tokens: 1000 });
    assert.equal(use.body.used_tokens, 353_000);

    // The seed's 30-day period closes as it was; the calendar rules apply from the next one on.
    await allot.setClock('2026-03-16T10:00:00.000Z');
    const rolled = (await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1001')).body;
    assert.equal(rolled.used_tokens, 0);
    assert.equal(rolled.current_period_start, '2026-03-16T09:30:00.000Z');
    assert.equal(rolled.current_period_end, '2026-04-16T09:30:00.000Z');
    assert.equal(rolled.next_billing_date, '2026-04-16T09:30:00.000Z');
    assert.deepEqual((await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1001/periods')).body.data, [
      {
        subscription_id: rolled.id, period_start: '2026-02-14T09:30:00.000Z', period_end: '2026-03-16T09:30:00.000Z',
        plan_id: 'basic', allocated_tokens: 100_000, used_tokens: 61_500, queries: 195, peak_daily_tokens: 8000,
      },
    ]);
    await allot.setClock('2026-05-20T00:00:00.000Z');
    const later = (await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1001')).body;
    assert.equal(later.current_period_start, '2026-05-16T09:30:00.000Z');
    assert.equal(later.current_period_end, '2026-06-16T09:30:00.000Z');

    // A second run finds everything in place and changes nothing.
    const again = await importSample(testDb);
    assert.equal(again.stderr, '');
    assert.deepEqual(again.report.plans.created, []);
    assert.deepEqual(again.report.plans.reused, ['basic', 'pro', 'pro-2', 'enterprise']);
    assert.deepEqual(again.report.subscriptions, { read: 8, imported: 0, already_imported: 5, skipped: 3 });
    assert.equal(again.report.daily_usage_days, 0);
    const after = (await allot.api('GET', '/v1/subscriptions/shop_alpha/user_1002')).body;
    assert.equal(after.used_tokens, 0); // rolled at 03-20 and not reset by the import
    const count = await testDb.db.one<{ n: number }>('SELECT COUNT(*) AS n FROM subscriptions');
    assert.equal(Number(count!.n), 6); // 5 imported + the new user_2002
  });
}

test('import-mongo explains an unreadable file and imports nothing', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(() => testDb.cleanup());
  const result = await runAllot(['import-mongo', '--subscriptions', `${FIXTURES}missing.json`], env(testDb));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /allot: ENOENT: no such file or directory/);
});
