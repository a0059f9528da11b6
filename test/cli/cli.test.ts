/**
 * The `allot` command line, run as a real child process against a real
 * database (ALLOT_DB or DATABASE_URL): migrate, keys, plans, subs, renew,
 * and `serve` answering /healthz and draining on SIGTERM; on both dialects.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { TestClock } from '../../src/domain/clock.ts';
import { Services } from '../../src/service/context.ts';
import { Scope } from '../../src/service/scope.ts';
import { putSubscription } from '../../src/service/subscriptions.ts';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { MASTER_KEY } from '../support/harness.ts';
import { dbEnv, runAllot, serveAllot, type Served } from '../support/process.ts';

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

for (const dialect of DIALECTS) {
  test(`${dialect}: cli — migrate, keys, plans, subs, renew`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    const env = dbEnv(testDb.config);
    const allot = async (...args: string[]) => runAllot(args, env);

    const migrated = await allot('migrate');
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal(migrated.stdout.trim(), 'applied 0001_initial');
    assert.equal((await allot('migrate')).stdout.trim(), 'database is up to date');

    const admin = await allot('keys', 'create', '--name', 'ops', '--role', 'admin', '--json');
    assert.equal(admin.code, 0, admin.stderr);
    const adminKey = JSON.parse(admin.stdout);
    assert.match(adminKey.key, /^allot_sk_/);
    assert.equal(adminKey.role, 'admin');
    const shop = await allot('keys', 'create', '--name', 'shop one', '--shop', 's1');
    assert.equal(shop.code, 0, shop.stderr);
    assert.match(shop.stdout, /^allot_sk_\S+\n\nid key_\S+, role shop, shop s1\. Store the key now/);
    const listed = await allot('keys', 'list', '--json');
    const keys = JSON.parse(listed.stdout) as Array<{ id: string; name: string; revoked_at: string | null }>;
    assert.deepEqual(keys.map((k) => k.name), ['ops', 'shop one']);
    assert.ok(!listed.stdout.includes(adminKey.key), 'secrets are never listed');
    const revoked = await allot('keys', 'revoke', keys[1]!.id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout.trim(), `revoked ${keys[1]!.id} (shop one)`);
    assert.notEqual(JSON.parse((await allot('keys', 'list', '--json')).stdout)[1].revoked_at, null);
    const table = await allot('keys', 'list');
    assert.match(table.stdout.split('\n')[0]!, /^id\s+name\s+role\s+shop_id\s+prefix\s+created_at\s+revoked_at$/);

    const noShop = await allot('keys', 'create', '--name', 'x', '--role', 'shop');
    assert.equal(noShop.code, 1);
    assert.match(noShop.stderr, /^allot: validation_error: A shop key needs shop_id\.\n {2}shop_id: required when role is shop\n$/);
    const badRevoke = await allot('keys', 'revoke', 'key_nope');
    assert.equal(badRevoke.code, 1);
    assert.match(badRevoke.stderr, /not_found/);

    const plan = await allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '400000', '--price', '29.99', '--tier', '2', '--json');
    assert.equal(plan.code, 0, plan.stderr);
    const created = JSON.parse(plan.stdout);
    assert.equal(created.price_minor, 2999);
    assert.equal(created.allocated_tokens, 400_000);
    assert.equal(created.allowance_interval, 'month');
    const yearly = await allot('plans', 'create', 'pool', '--name', 'Pool', '--tokens', '10', '--price', '100', '--cycle', 'yearly', '--interval', 'year');
    assert.equal(yearly.code, 0, yearly.stderr);
    assert.equal(yearly.stdout.trim(), 'created plan pool: 10 tokens per year, 10000 USD minor units yearly');
    const duplicate = await allot('plans', 'create', 'pro', '--name', 'Pro', '--tokens', '1', '--price', '1');
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /^allot: plan_exists: /);
    const badPrice = await allot('plans', 'create', 'cheap', '--name', 'Cheap', '--tokens', '1', '--price', '1.999');
    assert.notEqual(badPrice.code, 0);
    assert.match(badPrice.stderr, /must be an amount like 29\.99/);
    const plans = JSON.parse((await allot('plans', 'list', '--json')).stdout) as Array<{ id: string }>;
    assert.deepEqual(plans.map((p) => p.id), ['pool', 'pro']);

    // A subscription made through the same service the API uses.
    const services = new Services(testDb.db, new TestClock(Date.parse('2026-01-31T12:00:00.000Z')));
    await testDb.db.migrate([]);
    await putSubscription(services, Scope.admin('test'), { shop_id: 's1', user_id: 'u1', plan_id: 'pro' });
    const clockEnv = { ...env, ALLOT_TEST_CLOCK: '2026-02-10T00:00:00.000Z' };
    const shown = await runAllot(['subs', 'show', 's1', 'u1', '--json'], clockEnv);
    assert.equal(shown.code, 0, shown.stderr);
    const sub = JSON.parse(shown.stdout);
    assert.equal(sub.plan_id, 'pro');
    assert.equal(sub.current_period_end, '2026-02-28T12:00:00.000Z');
    const text = await runAllot(['subs', 'show', 's1', 'u1'], clockEnv);
    assert.match(text.stdout, /^tokens {5}0 used \+ 0 held of 400000 \(0%\), 400000 remaining$/m);
    const status = await runAllot(['subs', 'show', 's1', 'u1', '--status', '--json'], clockEnv);
    assert.equal(JSON.parse(status.stdout).days_remaining_in_period, 18);
    const missing = await runAllot(['subs', 'show', 's1', 'nobody'], clockEnv);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^allot: subscription_not_found: /);

    const renewEnv = { ...env, ALLOT_TEST_CLOCK: '2026-03-01T00:00:00.000Z' };
    const renewed = await runAllot(['renew'], renewEnv);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.deepEqual(JSON.parse(renewed.stdout), { subscriptions_rolled: 1, holds_checked: 0, idempotency_keys_deleted: 0 });
    assert.deepEqual(JSON.parse((await runAllot(['renew'], renewEnv)).stdout).subscriptions_rolled, 0, 'renewing is idempotent');
    const after = JSON.parse((await runAllot(['subs', 'show', 's1', 'u1', '--json'], renewEnv)).stdout);
    assert.equal(after.current_period_start, '2026-02-28T12:00:00.000Z');

    const badConfig = await runAllot(['renew'], { ...env, ALLOT_TEST_CLOCK: 'soon' });
    assert.equal(badConfig.code, 1);
    assert.match(badConfig.stderr, /ALLOT_TEST_CLOCK: must be an RFC 3339 instant/);
  });

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
      req.write(body.slice(0, 10));
      req.on('socket', (socket) => socket.on('connect', () => {
        served!.child.kill('SIGTERM');
        void until(() => served!.logs.some((l) => l.msg === 'draining in-flight requests')).then(() => req.end(body.slice(10)));
      }));
    });
    const { status, text } = await answer;
    assert.equal(status, 201, text);
    assert.equal(JSON.parse(text).id, 'late');
    assert.equal(await served.exited, 0);
    assert.ok(served.logs.some((l) => l.msg === 'stopped'));
    const row = await testDb.db.one<{ id: string }>('SELECT id FROM plans WHERE id = ?', ['late']);
    assert.equal(row?.id, 'late', 'the drained request was committed');
  });
}
