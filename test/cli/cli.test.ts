/**
 * The `allot` command line, run as a real child process: migrate, keys,
 * plans, subs and renew against a SQLite file (ALLOT_DB). The store itself is
 * tested on both dialects elsewhere, and every process start costs seconds;
 * `serve` runs on both dialects in serve.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestClock } from '../../src/domain/clock.ts';
import { Services } from '../../src/service/context.ts';
import { Scope } from '../../src/service/scope.ts';
import { putSubscription } from '../../src/service/subscriptions.ts';
import { migrations } from '../../src/store/migrations.ts';
import { openTestDb } from '../support/dialects.ts';
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
  const [again, admin, shop, plan, yearly, badPrice, badConfig] = await Promise.all([
    allot('migrate'),
    allot('keys', 'create', '--name', 'ops', '--role', 'admin', '--json'),
    allot('keys', 'create', '--name', 'shop one', '--shop', 's1'),
    allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '400000', '--price', '29.99', '--tier', '2', '--json'),
    allot('plans', 'create', 'pool', '--name', 'Pool', '--tokens', '10', '--price', '100', '--cycle', 'yearly', '--interval', 'year'),
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
  assert.equal(yearly.stdout, 'created plan pool: 10 tokens per year, 10000 USD minor units yearly\n');
  assert.notEqual(badPrice.code, 0);
  assert.match(badPrice.stderr, /must be an amount like 29\.99/);
  assert.equal(badConfig.code, 1);
  assert.match(badConfig.stderr, /ALLOT_TEST_CLOCK: must be an RFC 3339 instant/);

  const [listed, table, planList, duplicate, noShop, revoked] = await Promise.all([
    allot('keys', 'list', '--json'),
    allot('keys', 'list'),
    allot('plans', 'list', '--json'),
    allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '1', '--price', '1'),
    allot('keys', 'create', '--name', 'x', '--role', 'shop'),
    allot('keys', 'revoke', shopKeyId),
  ]);
  const keys = JSON.parse(listed.stdout) as Array<{ id: string; name: string }>;
  assert.deepEqual(keys.map((k) => k.name).sort(), ['ops', 'shop one']);
  assert.ok(!listed.stdout.includes(adminKey.key), 'secrets are never listed');
  assert.match(table.stdout.split('\n')[0]!, /^id\s+name\s+role\s+shop_id\s+prefix\s+created_at\s+revoked_at$/);
  assert.deepEqual((JSON.parse(planList.stdout) as Array<{ id: string }>).map((p) => p.id), ['pool', 'pro']);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /^allot: plan_exists: /);
  assert.equal(noShop.code, 1);
  assert.match(noShop.stderr, /^allot: validation_error: A shop key needs shop_id\.\n {2}shop_id: required when role is shop\n$/);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, `revoked ${shopKeyId} (shop one)\n`);
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
  assert.deepEqual(JSON.parse(renewed.stdout), { subscriptions_rolled: 1, holds_checked: 0, idempotency_keys_deleted: 0 });
  const after = await testDb.db.one<{ current_period_start: number }>('SELECT current_period_start FROM subscriptions');
  assert.equal(after?.current_period_start, Date.parse('2026-02-28T12:00:00.000Z'));
  assert.equal((await testDb.db.all('SELECT * FROM period_summaries')).length, 1);
  const renewedAgain = await runAllot(['renew'], renewEnv);
  assert.equal(JSON.parse(renewedAgain.stdout).subscriptions_rolled, 0, 'renewing is idempotent');
});
