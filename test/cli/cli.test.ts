/**
 * The `allot` command line, run as a real child process: migrate, keys,
 * plans, subs and renew against a SQLite file (ALLOT_DB). The store itself is
 * tested on both dialects elsewhere, and every process start costs seconds;
 * `serve` runs on both dialects in serve.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestClock } from '../../src/domain/clock.ts';
import type { FieldError } from '../../src/domain/errors.ts';
import { createApiKey } from '../../src/service/api-keys.ts';
import { Services } from '../../src/service/context.ts';
import { createPlan } from '../../src/service/plans.ts';
import { Scope } from '../../src/service/scope.ts';
import { putSubscription } from '../../src/service/subscriptions.ts';
import { recordUsage } from '../../src/service/usage.ts';
import { migrations } from '../../src/store/migrations.ts';
import { openTestDb } from '../support/dialects.ts';
import { startAllot } from '../support/harness.ts';
import { dbEnv, runAllot } from '../support/process.ts';

test('sqlite: cli — migrate, keys, plans, subs, renew', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  const env = dbEnv(testDb.config);
  const allot = async (...args: string[]) => runAllot(args, env);

  const migrated = await allot('migrate');
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.equal(migrated.stdout.trim(), `applied ${migrations.map((m) => m.id).join(', ')}`);

  // Independent commands run side by side: every process pays seconds for its start-up.
  const [again, admin, shop, plan, yearly, starter, badPrice, badConfig] = await Promise.all([
    allot('migrate'),
    allot('keys', 'create', '--name', 'ops', '--role', 'admin', '--json'),
    allot('keys', 'create', '--name', 'shop one', '--shop', 's1'),
    allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '400000', '--price', '29.99', '--tier', '2', '--json'),
    allot('plans', 'create', 'pool', '--name', 'Pool', '--tokens', '10', '--price', '100', '--cycle', 'yearly', '--interval', 'year'),
    allot('plans', 'create', 'starter', '--name', 'Starter', '--tokens', '1000', '--price', '4.99'),
    allot('plans', 'create', 'cheap', '--name', 'Cheap', '--tokens', '1', '--price', '1.999'),
    runAllot(['renew'], { ...env, ALLOT_TEST_CLOCK: 'soon' }),
  ]);
  assert.equal(again.stdout.trim(), 'database is up to date');
  assert.equal(admin.code, 0, admin.stderr);
  const adminKey = JSON.parse(admin.stdout);
  assert.match(adminKey.key, /^allot_sk_/);
  assert.equal(adminKey.role, 'admin');
  assert.equal(shop.code, 0, shop.stderr);
  const shopText = /^allot_sk_\S+\n\nid (key_\S+), role shop, shop s1\. Store the key now: it is not shown again\.\n$/.exec(shop.stdout);
  assert.ok(shopText, shop.stdout);
  const shopKeyId = shopText[1]!;
  assert.equal(plan.code, 0, plan.stderr);
  const created = JSON.parse(plan.stdout);
  assert.equal(created.price_minor, 2999);
  assert.equal(created.allocated_tokens, 400_000);
  assert.equal(created.allowance_interval, 'month');
  assert.equal(yearly.stdout, 'created plan pool: 10 tokens per year, 100.00 USD yearly\n');
  assert.equal(starter.stdout, 'created plan starter: 1000 tokens per month, 4.99 USD monthly\n', 'the price as it was typed');
  assert.notEqual(badPrice.code, 0);
  assert.match(badPrice.stderr, /^ {2}price_minor \(--price\): must have at most 2 decimals for USD$/m);
  assert.equal(badConfig.code, 1);
  assert.match(badConfig.stderr, /ALLOT_TEST_CLOCK: must be an RFC 3339 instant/);

  const [listed, table, planList, duplicate, noShop, revoked, archived, archivedJson, noPlan, help] = await Promise.all([
    allot('keys', 'list', '--json'),
    allot('keys', 'list'),
    allot('plans', 'list', '--json'),
    allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '1', '--price', '1'),
    allot('keys', 'create', '--name', 'x', '--role', 'shop'),
    allot('keys', 'revoke', shopKeyId),
    allot('plans', 'archive', 'pool'),
    allot('plans', 'archive', 'starter', '--json'),
    allot('plans', 'archive', 'nope'),
    allot('plans', '--help'),
  ]);
  const keys = JSON.parse(listed.stdout) as Array<{ id: string; name: string }>;
  assert.deepEqual(keys.map((k) => k.name).sort(), ['ops', 'shop one']);
  assert.ok(!listed.stdout.includes(adminKey.key), 'secrets are never listed');
  assert.match(table.stdout.split('\n')[0]!, /^id\s+name\s+role\s+shop_id\s+prefix\s+created_at\s+revoked_at$/);
  assert.deepEqual((JSON.parse(planList.stdout) as Array<{ id: string }>).map((p) => p.id), ['pool', 'pro', 'starter']);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /^allot: plan_exists: /);
  assert.equal(noShop.code, 1);
  assert.equal(noShop.stderr, refusal('API key', [{ path: 'shop_id', message: 'required when role is shop' }], { shop_id: '--shop' }));
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, `revoked ${shopKeyId} (shop one)\n`);
  assert.equal(archived.code, 0, archived.stderr);
  assert.equal(archived.stdout, 'archived plan pool (Pool): it takes no new subscriptions; those on it keep it\n');
  assert.equal(archivedJson.code, 0, archivedJson.stderr);
  assert.equal(JSON.parse(archivedJson.stdout).archived, true);
  assert.equal(noPlan.code, 1);
  assert.equal(noPlan.stderr, 'allot: plan_not_found: No plan nope.\n');
  assert.match(help.stdout, /^ {2}archive \[options\] <id> +archive a plan/m);
  const plansArchived = await testDb.db.all<{ id: string; archived: number | boolean }>('SELECT id, archived FROM plans ORDER BY id');
  assert.deepEqual(plansArchived.map((p) => [p.id, Boolean(p.archived)]), [['pool', true], ['pro', false], ['starter', true]]);
  const rows = await testDb.db.all<{ id: string; revoked_at: number | null }>('SELECT id, revoked_at FROM api_keys ORDER BY name');
  assert.deepEqual(rows.map((r) => [r.id === shopKeyId, r.revoked_at === null]), [[false, true], [true, false]], 'only the shop key is revoked; the refused key was not stored');

  // A subscription made through the same service the API uses.
  const services = new Services(testDb.db, new TestClock(Date.parse('2026-01-31T12:00:00.000Z')));
  await putSubscription(services, Scope.admin('test'), { shop_id: 's1', user_id: 'u1', plan_id: 'pro' });
  const subId = (await testDb.db.one<{ id: string }>('SELECT id FROM subscriptions'))!.id;
  const clockEnv = { ...env, ALLOT_TEST_CLOCK: '2026-02-10T00:00:00.000Z' };
  const [shown, text, missing] = await Promise.all([
    runAllot(['subs', 'show', 's1', 'u1', '--status', '--json'], clockEnv),
    runAllot(['subs', 'show', 's1', 'u1'], clockEnv),
    runAllot(['subs', 'show', 's1', 'nobody'], clockEnv),
  ]);
  assert.equal(shown.code, 0, shown.stderr);
  const sub = JSON.parse(shown.stdout);
  assert.equal(sub.plan_id, 'pro');
  assert.equal(sub.current_period_end, '2026-02-28T12:00:00.000Z');
  assert.equal(sub.days_remaining_in_period, 18);
  assert.equal(text.stdout, [
    `s1/u1  ${subId}  active`,
    'plan       pro (Pro)',
    'period     2026-01-31T12:00:00.000Z → 2026-02-28T12:00:00.000Z',
    'tokens     0 used + 0 held of 400000 (0%), 400000 remaining',
    '',
  ].join('\n'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^allot: subscription_not_found: /);

  const renewEnv = { ...env, ALLOT_TEST_CLOCK: '2026-03-01T00:00:00.000Z' };
  const renewed = await runAllot(['renew'], renewEnv);
  assert.equal(renewed.code, 0, renewed.stderr);
  assert.equal(renewed.stdout, [
    '1 subscription rolled into a new period',
    '0 subscriptions with expired holds brought up to date',
    '0 expired idempotency keys forgotten',
    '',
  ].join('\n'));
  const after = await testDb.db.one<{ current_period_start: number }>('SELECT current_period_start FROM subscriptions');
  assert.equal(after?.current_period_start, Date.parse('2026-02-28T12:00:00.000Z'));
  assert.equal((await testDb.db.all('SELECT * FROM period_summaries')).length, 1);
  const renewedAgain = await runAllot(['renew', '--json'], renewEnv);
  assert.deepEqual(JSON.parse(renewedAgain.stdout), { subscriptions_rolled: 0, subscriptions_failed: 0, holds_checked: 0, idempotency_keys_deleted: 0 }, 'renewing is idempotent');
});

/** What the CLI prints when it refuses an input: the API's field errors, each naming the option it came from. */
function refusal(what: string, errors: FieldError[], flags: Record<string, string>): string {
  return [`allot: validation_error: The ${what} is not valid; nothing was created.`, ...errors.map((e) => `  ${e.path} (${flags[e.path]}): ${e.message}`), ''].join('\n');
}

test('sqlite: cli — plans create and keys create refuse what the API refuses, in its words, and read prices in the currency', async (t) => {
  const testDb = await openTestDb('sqlite');
  // The API runs on the same database: it answers the same inputs, and shows that nothing was created.
  const api = await startAllot('sqlite', { testDb });
  t.after(api.close);
  const allot = async (...args: string[]) => runAllot(args, dbEnv(testDb.config));

  const [badPlan, badKey, badRole, yen, dinar, dollar, yenFraction, dinarFraction, notAnAmount] = await Promise.all([
    allot('plans', 'create', 'has space', '--name', '', '--tokens', '1e13', '--price', '-1', '--currency', 'usd', '--tier', '1.5'),
    allot('keys', 'create', '--name', 'x'.repeat(201), '--shop', 'a b'),
    allot('keys', 'create', '--name', 'ops', '--role', 'root'),
    allot('plans', 'create', 'yen', '--name', 'Yen', '--tokens', '1000', '--price', '1500', '--currency', 'JPY', '--json'),
    allot('plans', 'create', 'dinar', '--name', 'Dinar', '--tokens', '1000', '--price', '12.345', '--currency', 'BHD', '--json'),
    allot('plans', 'create', 'dollar', '--name', 'Dollar', '--tokens', '1000', '--price', '29.9', '--json'),
    allot('plans', 'create', 'yen-fraction', '--name', 'Yen', '--tokens', '1000', '--price', '1500.5', '--currency', 'JPY'),
    allot('plans', 'create', 'dinar-fraction', '--name', 'Dinar', '--tokens', '1000', '--price', '1.2345', '--currency', 'BHD'),
    allot('plans', 'create', 'words', '--name', 'Words', '--tokens', '1000', '--price', 'ten'),
  ]);

  const planFlags = {
    id: '<id>', display_name: '--name', allocated_tokens: '--tokens', price_minor: '--price', currency: '--currency', billing_cycle: '--cycle', tier: '--tier',
  };
  const apiPlan = await api.api('POST', '/v1/plans', {
    id: 'has space', display_name: '', allocated_tokens: 1e13, price_minor: -100, currency: 'usd', billing_cycle: 'monthly', tier: 1.5,
  });
  assert.equal(apiPlan.status, 400);
  assert.deepEqual(apiPlan.body.errors.map((e: FieldError) => e.path), ['id', 'display_name', 'allocated_tokens', 'price_minor', 'currency', 'tier']);
  assert.equal(badPlan.code, 1);
  assert.equal(badPlan.stderr, refusal('plan', apiPlan.body.errors, planFlags));

  const apiKey = await api.api('POST', '/v1/api-keys', { name: 'x'.repeat(201), role: 'shop', shop_id: 'a b' });
  assert.equal(apiKey.status, 400);
  assert.equal(badKey.code, 1);
  assert.equal(badKey.stderr, refusal('API key', apiKey.body.errors, { name: '--name', shop_id: '--shop' }));
  assert.equal(badRole.code, 1);
  assert.match(badRole.stderr, /argument 'root' is invalid\. Allowed choices are admin, shop\./);

  // A price is in the currency's major unit: JPY has no minor unit, BHD has three.
  assert.equal(yen.code, 0, yen.stderr);
  assert.equal(JSON.parse(yen.stdout).price_minor, 1500);
  assert.equal(dinar.code, 0, dinar.stderr);
  assert.equal(JSON.parse(dinar.stdout).price_minor, 12_345);
  assert.equal(dollar.code, 0, dollar.stderr);
  assert.equal(JSON.parse(dollar.stdout).price_minor, 2990);
  assert.equal(yenFraction.code, 1);
  assert.equal(yenFraction.stderr, refusal('plan', [{ path: 'price_minor', message: 'must be a whole amount: JPY has no minor unit' }], planFlags));
  assert.equal(dinarFraction.code, 1);
  assert.equal(dinarFraction.stderr, refusal('plan', [{ path: 'price_minor', message: 'must have at most 3 decimals for BHD' }], planFlags));
  assert.equal(notAnAmount.code, 1);
  assert.equal(notAnAmount.stderr, refusal('plan', [{ path: 'price_minor', message: 'must be an amount like 29.99' }], planFlags));

  const listed = await api.api('GET', '/v1/plans');
  assert.deepEqual(listed.body.data.map((p: { id: string }) => p.id), ['dinar', 'dollar', 'yen'], 'only the valid plans were created');
  assert.equal((await testDb.db.all('SELECT id FROM api_keys')).length, 0, 'no key was created');
});

test('sqlite: cli — plans list and keys list print every row, however many pages the store reads', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  await testDb.db.migrate(migrations);
  const services = new Services(testDb.db, new TestClock(Date.parse('2026-01-31T12:00:00.000Z')));
  const admin = Scope.admin('test');
  const count = 250;
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(3, '0');
    await createPlan(services, admin, {
      id: `plan-${n}`, display_name: `Plan ${n}`, allocated_tokens: 1000, price_minor: 100, currency: 'USD', billing_cycle: 'monthly', tier: 1,
    });
    await createApiKey(services, admin, { name: `key ${n}`, role: 'shop', shop_id: `shop-${n}` });
  }
  const env = dbEnv(testDb.config);
  const [plansJson, plansText, keysJson, keysText] = await Promise.all([
    runAllot(['plans', 'list', '--json'], env),
    runAllot(['plans', 'list'], env),
    runAllot(['keys', 'list', '--json'], env),
    runAllot(['keys', 'list'], env),
  ]);
  for (const run of [plansJson, plansText, keysJson, keysText]) assert.equal(run.code, 0, run.stderr);
  const planIds = (await testDb.db.all<{ id: string }>('SELECT id FROM plans ORDER BY id')).map((r) => r.id);
  const keyIds = (await testDb.db.all<{ id: string }>('SELECT id FROM api_keys ORDER BY id')).map((r) => r.id);
  assert.equal(planIds.length, count);
  assert.deepEqual((JSON.parse(plansJson.stdout) as Array<{ id: string }>).map((p) => p.id), planIds);
  assert.deepEqual(plansText.stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/\s+/)[0]), planIds);
  assert.deepEqual((JSON.parse(keysJson.stdout) as Array<{ id: string }>).map((k) => k.id), keyIds);
  assert.deepEqual(keysText.stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/\s+/)[0]), keyIds);
});

test('sqlite: cli — subs show --status prints the status report as text', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  await testDb.db.migrate(migrations);
  const clock = new TestClock(Date.parse('2026-01-31T12:00:00.000Z'));
  const services = new Services(testDb.db, clock);
  const admin = Scope.admin('test');
  await createPlan(services, admin, { id: 'pro', display_name: 'Pro', allocated_tokens: 1000, price_minor: 999, currency: 'USD', billing_cycle: 'monthly', tier: 2 });
  await createPlan(services, admin, { id: 'max', display_name: 'Max', allocated_tokens: 5000, price_minor: 2999, currency: 'USD', billing_cycle: 'monthly', tier: 3 });
  await putSubscription(services, admin, { shop_id: 's1', user_id: 'u1', plan_id: 'pro' });
  clock.set(Date.parse('2026-02-25T10:00:00.000Z'));
  await recordUsage(services, admin, { event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 850 });

  const env = { ...dbEnv(testDb.config), ALLOT_TEST_CLOCK: '2026-02-26T00:00:00.000Z' };
  const [json, text] = await Promise.all([
    runAllot(['subs', 'show', 's1', 'u1', '--status', '--json'], env),
    runAllot(['subs', 'show', 's1', 'u1', '--status'], env),
  ]);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(text.code, 0, text.stderr);
  const status = JSON.parse(json.stdout);
  // The report has something to say on every topic.
  assert.deepEqual(status.alerts.map((a: { code: string }) => a.code), ['usage_high', 'renewal_soon']);
  assert.deepEqual(status.recommendations.map((r: { code: string }) => r.code), ['upgrade', 'usage_increasing', 'high_tokens_per_query']);
  const lines = text.stdout.split('\n');
  const alert = (a: { type: string; code: string; message: string; action: string }) => `${a.type} ${a.code}: ${a.message} (${a.action})`;
  for (const expected of [
    `s1/u1  ${status.id}  active`,
    'tokens     850 used + 0 held of 1000 (85%), 150 remaining',
    'days       2 remaining in the period',
    'billing    9.99 USD monthly, next on 2026-02-28T12:00:00.000Z',
    `usage      ${status.avg_daily_usage} tokens a day on average (trend ${status.usage_trend}), ${status.projected_usage} projected by period end`,
    `runs out   ${status.projected_exhaustion_date ?? 'not within this period'}`,
    `queries    1 (850 tokens per query), peak 850 tokens in a day`,
    `alerts     ${alert(status.alerts[0])}`,
    `           ${alert(status.alerts[1])}`,
    `advice     upgrade: ${status.recommendations[0].message} (plan max)`,
    `           usage_increasing: ${status.recommendations[1].message}`,
    `           high_tokens_per_query: ${status.recommendations[2].message}`,
  ]) {
    assert.ok(lines.includes(expected), `missing line ${JSON.stringify(expected)} in:\n${text.stdout}`);
  }
});
