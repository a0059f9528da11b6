/**
 * The `allot` command line, run as a real child process: migrate, keys,
 * plans, subs and renew against a SQLite file (ALLOT_DB; the store itself is
 * tested on both dialects elsewhere, and every process start costs seconds),
 * and `serve` answering /healthz and draining on SIGTERM on both dialects.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { TestClock } from '../../src/domain/clock.ts';
import { Services } from '../../src/service/context.ts';
import { Scope } from '../../src/service/scope.ts';
import { putSubscription } from '../../src/service/subscriptions.ts';
import { migrations } from '../../src/store/migrations.ts';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { MASTER_KEY } from '../support/harness.ts';
import { dbEnv, runAllot, serveAllot, type Served } from '../support/process.ts';

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

test('sqlite: cli — migrate, keys, plans, subs, renew', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  const env = dbEnv(testDb.config);
  const allot = async (...args: string[]) => runAllot(args, env);

  const migrated = await allot('migrate');
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.equal(migrated.stdout.trim(), `applied ${migrations.map((m) => m.id).join(', ')}`);

  // Independent commands run side by side: each process pays for its own start-up.
  const [again, admin, shop, plan] = await Promise.all([
    allot('migrate'),
    allot('keys', 'create', '--name', 'ops', '--role', 'admin', '--json'),
    allot('keys', 'create', '--name', 'shop one', '--shop', 's1'),
    allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '400000', '--price', '29.99', '--tier', '2', '--json'),
  ]);
  assert.equal(again.stdout.trim(), 'database is up to date');
  assert.equal(admin.code, 0, admin.stderr);
  const adminKey = JSON.parse(admin.stdout);
  assert.match(adminKey.key, /^allot_sk_/);
  assert.equal(adminKey.role, 'admin');
  assert.equal(shop.code, 0, shop.stderr);
  assert.match(shop.stdout, /^allot_sk_\S+\n\nid key_\S+, role shop, shop s1\. Store the key now/);
  assert.equal(plan.code, 0, plan.stderr);
  const created = JSON.parse(plan.stdout);
  assert.equal(created.price_minor, 2999);
  assert.equal(created.allocated_tokens, 400_000);
  assert.equal(created.allowance_interval, 'month');

  const [listed, planList, duplicate, noShop] = await Promise.all([
    allot('keys', 'list', '--json'),
    allot('plans', 'list', '--json'),
    allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '1', '--price', '1'),
    allot('keys', 'create', '--name', 'x', '--role', 'shop'),
  ]);
  const keys = JSON.parse(listed.stdout) as Array<{ id: string; name: string; revoked_at: string | null }>;
  assert.deepEqual(keys.map((k) => k.name).sort(), ['ops', 'shop one']);
  assert.ok(!listed.stdout.includes(adminKey.key), 'secrets are never listed');
  assert.deepEqual((JSON.parse(planList.stdout) as Array<{ id: string }>).map((p) => p.id), ['pro']);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /^allot: plan_exists: /);
  assert.equal(noShop.code, 1);
  assert.match(noShop.stderr, /^allot: validation_error: A shop key needs shop_id\.\n {2}shop_id: required when role is shop\n$/);
  assert.equal((await testDb.db.all('SELECT id FROM api_keys')).length, 2, 'a refused key is not stored');

  const shopKeyId = keys.find((k) => k.name === 'shop one')!.id;
  const revoked = await allot('keys', 'revoke', shopKeyId);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout.trim(), `revoked ${shopKeyId} (shop one)`);
  const row = await testDb.db.one<{ revoked_at: number | null }>('SELECT revoked_at FROM api_keys WHERE id = ?', [shopKeyId]);
  assert.equal(typeof row?.revoked_at, 'number');

  // A subscription made through the same service the API uses.
  const services = new Services(testDb.db, new TestClock(Date.parse('2026-01-31T12:00:00.000Z')));
  await putSubscription(services, Scope.admin('test'), { shop_id: 's1', user_id: 'u1', plan_id: 'pro' });
  const clockEnv = { ...env, ALLOT_TEST_CLOCK: '2026-02-10T00:00:00.000Z' };
  const [shown, missing] = await Promise.all([
    runAllot(['subs', 'show', 's1', 'u1', '--status', '--json'], clockEnv),
    runAllot(['subs', 'show', 's1', 'nobody'], clockEnv),
  ]);
  assert.equal(shown.code, 0, shown.stderr);
  const sub = JSON.parse(shown.stdout);
  assert.equal(sub.plan_id, 'pro');
  assert.equal(sub.current_period_end, '2026-02-28T12:00:00.000Z');
  assert.equal(sub.days_remaining_in_period, 18);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^allot: subscription_not_found: /);

  const renewEnv = { ...env, ALLOT_TEST_CLOCK: '2026-03-01T00:00:00.000Z' };
  const renewed = await runAllot(['renew'], renewEnv);
  assert.equal(renewed.code, 0, renewed.stderr);
  assert.deepEqual(JSON.parse(renewed.stdout), { subscriptions_rolled: 1, holds_checked: 0, idempotency_keys_deleted: 0 });
  const [renewedAgain, after] = await Promise.all([
    runAllot(['renew'], renewEnv),
    runAllot(['subs', 'show', 's1', 'u1', '--json'], renewEnv),
  ]);
  assert.equal(JSON.parse(renewedAgain.stdout).subscriptions_rolled, 0, 'renewing is idempotent');
  assert.equal(JSON.parse(after.stdout).current_period_start, '2026-02-28T12:00:00.000Z');
  const summary = await testDb.db.one<{ used_tokens: number }>('SELECT used_tokens FROM period_summaries');
  assert.equal(summary?.used_tokens, 0);
});

test('sqlite: cli — argument errors and text output', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  const env = dbEnv(testDb.config, { ALLOT_TEST_CLOCK: '2026-01-31T12:00:00.000Z' });
  const plan = await runAllot(['plans', 'create', 'pro', '--name', 'Pro', '--tokens', '400000', '--price', '29.99'], env);
  assert.equal(plan.stdout.trim(), 'created plan pro: 400000 tokens per month, 2999 USD minor units monthly');
  const services = new Services(testDb.db, new TestClock(Date.parse('2026-01-31T12:00:00.000Z')));
  await putSubscription(services, Scope.admin('test'), { shop_id: 's1', user_id: 'u1', plan_id: 'pro' });
  const text = await runAllot(['subs', 'show', 's1', 'u1'], env);
  assert.equal(text.stdout, [
    `s1/u1  ${(await testDb.db.one<{ id: string }>('SELECT id FROM subscriptions'))!.id}  active`,
    'plan       pro (Pro)',
    'period     2026-01-31T12:00:00.000Z → 2026-02-28T12:00:00.000Z',
    'tokens     0 used + 0 held of 400000 (0%), 400000 remaining',
    '',
  ].join('\n'));
  const [badPrice, badConfig, table] = await Promise.all([
    runAllot(['plans', 'create', 'cheap', '--name', 'Cheap', '--tokens', '1', '--price', '1.999'], env),
    runAllot(['renew'], { ...env, ALLOT_TEST_CLOCK: 'soon' }),
    runAllot(['keys', 'list'], env),
  ]);
  assert.notEqual(badPrice.code, 0);
  assert.match(badPrice.stderr, /must be an amount like 29\.99/);
  assert.equal(badConfig.code, 1);
  assert.match(badConfig.stderr, /ALLOT_TEST_CLOCK: must be an RFC 3339 instant/);
  assert.match(table.stdout.split('\n')[0]!, /^id\s+name\s+role\s+shop_id\s+prefix\s+created_at\s+revoked_at$/);
});

for (const dialect of DIALECTS) {
  test(`${dialect}: cli — serve answers /healthz and drains in-flight requests on SIGTERM`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    let served: Served | undefined;
    t.after(async () => {
      await served?.stop();
    });
    served = await serveAllot(dbEnv(testDb.config, { ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_SWEEP_SECONDS: '0' }));
    const health = await fetch(`${served.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    // A request whose body is still arriving is in flight when SIGTERM comes.
    const body = JSON.stringify({ id: 'late', display_name: 'Late', allocated_tokens: 1, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 1 });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${served!.url}/v1/plans`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      // Once the partial request is written and a later request on another connection has been
      // answered, the server has read the first one's headers: it is in flight.
      req.write(body.slice(0, 10), () => {
        void fetch(`${served!.url}/healthz`)
          .then(() => {
            served!.child.kill('SIGTERM');
            return until(() => served!.logs.some((l) => l.msg === 'draining in-flight requests'));
          })
          .then(() => req.end(body.slice(10)), reject);
      });
    });
    const { status, text } = await answer;
    assert.equal(status, 201, `${text}\n${JSON.stringify(served.logs)}`);
    assert.equal(JSON.parse(text).id, 'late');
    assert.equal(await served.exited, 0);
    assert.ok(served.logs.some((l) => l.msg === 'stopped'));
    const row = await testDb.db.one<{ id: string }>('SELECT id FROM plans WHERE id = ?', ['late']);
    assert.equal(row?.id, 'late', 'the drained request was committed');
  });
}
