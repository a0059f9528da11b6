import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AllotApiError, AllotClient, type Plan, type SubscriptionStatus } from '../../packages/client/src/index.ts';
import { DIALECTS } from '../support/dialects.ts';
import { MASTER_KEY, plans, startAllot } from '../support/harness.ts';

const START = '2026-01-31T12:00:00.000Z';

async function rejection(promise: Promise<unknown>): Promise<AllotApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AllotApiError, `expected an AllotApiError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

for (const dialect of DIALECTS) {
  test(`${dialect}: client runs a whole subscription's life`, async (t) => {
    const allot = await startAllot(dialect, { clock: START });
    t.after(allot.close);
    const client = new AllotClient({ baseUrl: allot.url, apiKey: MASTER_KEY });

    const basic: Plan = await client.plans.create(plans.basic);
    assert.equal(basic.allowance_interval, 'month');
    await client.plans.create(plans.pro);
    assert.equal((await client.plans.get('pro')).allocated_tokens, 400_000);
    assert.deepEqual((await client.plans.list()).data.map((p) => p.id), ['basic', 'pro']);

    const created = await client.subscriptions.put('acme', 'alice@example.com', { plan_id: 'basic' });
    assert.equal(created.action_performed, 'create');
    assert.equal(created.current_period_end, '2026-02-28T12:00:00.000Z');

    const usage = await client.usage.record({ event_id: 'e1', shop_id: 'acme', user_id: 'alice@example.com', input_tokens: 60_000, output_tokens: 5_000 });
    assert.equal(usage.tokens, 65_000);
    assert.equal(usage.duplicate, false);
    const duplicate = await client.usage.record({ event_id: 'e1', shop_id: 'acme', user_id: 'alice@example.com', input_tokens: 60_000, output_tokens: 5_000 });
    assert.equal(duplicate.duplicate, true);
    assert.equal(duplicate.used_tokens, 65_000);
    assert.equal((await client.usage.get('e1', { shop_id: 'acme' })).tokens, 65_000);
    assert.equal((await client.usage.list({ shop_id: 'acme' })).data.length, 1);
    assert.deepEqual(await client.usage.check({ shop_id: 'acme', user_id: 'alice@example.com', tokens: 40_000 }), {
      allowed: false, remaining_tokens: 35_000, reason: 'quota_exceeded',
    });

    const hold = await client.reservations.create({ shop_id: 'acme', user_id: 'alice@example.com', tokens: 10_000 });
    assert.equal(hold.status, 'active');
    assert.equal(hold.remaining_tokens, 25_000);
    assert.equal((await client.reservations.get(hold.id, { shop_id: 'acme' })).tokens, 10_000);
    const committed = await client.reservations.commit(hold.id, { tokens: 8_000 });
    assert.equal(committed.status, 'committed');
    assert.equal(committed.used_tokens, 73_000);
    const second = await client.reservations.create({ shop_id: 'acme', user_id: 'alice@example.com', tokens: 1_000 });
    assert.equal((await client.reservations.release(second.id)).status, 'released');

    const status: SubscriptionStatus = await client.subscriptions.status('acme', 'alice@example.com', { include_history: true });
    assert.equal(status.current_usage, 73_000);
    assert.deepEqual(status.alerts.map((a) => a.code), ['usage_moderate']);
    assert.deepEqual(status.usage_history?.daily.map((d) => d.tokens), [73_000]);
    const daily = await client.subscriptions.dailyUsage('acme', 'alice@example.com');
    assert.deepEqual(daily.data, [{ date: '2026-01-31', tokens: 73_000, queries: 2 }]);
    const overview = await client.shops.overview('acme', { from: '2026-01-31', to: '2026-01-31', limit: 5 });
    assert.deepEqual(overview.daily.data, [{ date: '2026-01-31', tokens: 73_000, queries: 2 }]);
    // 73 % on the first day: not yet past 75 %, but at that pace it runs out long before the period ends.
    assert.deepEqual(overview.subscriptions.data.map((s) => [s.user_id, s.past_75, s.runs_out_in_period, s.at_risk]), [['alice@example.com', false, true, true]]);

    assert.equal((await client.subscriptions.suspend('acme', 'alice@example.com')).status, 'suspended');
    assert.equal((await client.subscriptions.resume('acme', 'alice@example.com')).status, 'active');
    const upgraded = await client.subscriptions.put('acme', 'alice@example.com', { plan_id: 'pro' });
    assert.equal(upgraded.action_performed, 'upgrade');
    assert.equal(upgraded.previous_plan_id, 'basic');
    assert.equal((await client.subscriptions.cancel('acme', 'alice@example.com')).cancel_at_period_end, true);

    assert.deepEqual(await client.testClock.set('2026-03-01T00:00:00.000Z'), { now: '2026-03-01T00:00:00.000Z' });
    assert.equal((await client.testClock.get()).frozen, true);
    assert.equal(typeof (await client.renewals.run()).subscriptions_rolled, 'number');
    const periods = await client.subscriptions.periods('acme', 'alice@example.com');
    assert.deepEqual(periods.data.map((p) => [p.plan_id, p.used_tokens, p.queries]), [['pro', 73_000, 2]]);
    assert.equal((await client.subscriptions.get('acme', 'alice@example.com')).status, 'canceled');
    assert.deepEqual((await client.subscriptions.list({ status: 'canceled' })).data.map((s) => s.user_id), ['alice@example.com']);

    const archived = await client.plans.archive('basic');
    assert.equal(archived.archived, true);
    const refused = await rejection(client.subscriptions.put('acme', 'bob', { plan_id: 'basic' }));
    assert.equal(refused.status, 422);
    assert.equal(refused.code, 'plan_archived');
  });

  test(`${dialect}: client errors carry the problem document`, async (t) => {
    const allot = await startAllot(dialect, { clock: START });
    t.after(allot.close);
    const client = new AllotClient({ baseUrl: `${allot.url}/`, apiKey: MASTER_KEY });
    await client.plans.create(plans.basic);

    const missing = await rejection(client.subscriptions.get('acme', 'nobody'));
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'subscription_not_found');
    assert.match(missing.detail, /nobody|subscription/i);
    assert.equal(missing.retryAfter, null);
    assert.equal(typeof missing.requestId, 'string');
    assert.equal((await rejection(client.plans.get('nope'))).code, 'plan_not_found');

    await client.subscriptions.put('acme', 'alice', { plan_id: 'basic' });
    await client.usage.record({ event_id: 'big', shop_id: 'acme', user_id: 'alice', tokens: 99_000 });
    const quota = await rejection(client.usage.record({ event_id: 'too-much', shop_id: 'acme', user_id: 'alice', tokens: 5_000, enforce: true }));
    assert.equal(quota.status, 429);
    assert.equal(quota.code, 'quota_exceeded');
    // 28 days from the frozen clock to the period end, 2026-02-28T12:00Z.
    assert.equal(quota.retryAfter, 28 * 86_400);
    assert.equal(quota.headers.get('retry-after'), String(28 * 86_400));
    const never = await rejection(client.usage.record({ event_id: 'never', shop_id: 'acme', user_id: 'alice', tokens: 100_001, enforce: true }));
    assert.equal(never.code, 'quota_exceeded');
    assert.equal(never.retryAfter, null, 'no wait makes more than the whole allowance fit');
    await rejection(client.usage.get('too-much', { shop_id: 'acme' })).then((e) => assert.equal(e.status, 404));

    const invalid = await rejection(client.usage.record({ event_id: 'bad id!', shop_id: 'acme', user_id: 'alice', tokens: -1 }));
    assert.equal(invalid.status, 400);
    assert.equal(invalid.code, 'validation_error');
    assert.deepEqual(invalid.errors.map((e) => e.path).sort(), ['event_id', 'tokens']);

    const shopKey = await client.apiKeys.create({ name: 'acme', role: 'shop', shop_id: 'acme' });
    assert.match(shopKey.key, /^allot_sk_/);
    const shopClient = new AllotClient({ baseUrl: allot.url, apiKey: shopKey.key });
    assert.equal((await shopClient.subscriptions.get('acme', 'alice')).used_tokens, 99_000);
    assert.equal((await rejection(shopClient.plans.create(plans.pro))).code, 'forbidden');
    assert.equal((await rejection(shopClient.subscriptions.get('other', 'alice'))).status, 404);
    assert.ok((await client.apiKeys.list()).data.some((k) => k.id === shopKey.id));
    assert.notEqual((await client.apiKeys.revoke(shopKey.id)).revoked_at, null);
    const revoked = await rejection(shopClient.subscriptions.get('acme', 'alice'));
    assert.equal(revoked.status, 401);
    assert.equal(revoked.code, 'unauthorized');

    const wrongPrefix = new AllotClient({ baseUrl: `${allot.url}/api`, apiKey: MASTER_KEY });
    const noRoute = await rejection(wrongPrefix.plans.list());
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.code, 'not_found');
  });

  test(`${dialect}: client iterates paginated lists to the end`, async (t) => {
    const allot = await startAllot(dialect, { clock: START });
    t.after(allot.close);
    const pagesFetched: string[] = [];
    const client = new AllotClient({
      baseUrl: allot.url,
      apiKey: MASTER_KEY,
      fetch: (input, init) => {
        pagesFetched.push(String(input));
        return fetch(input, init);
      },
    });
    await client.plans.create(plans.basic);
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];
    for (const user of users) await client.subscriptions.put('acme', user, { plan_id: 'basic' });
    await client.subscriptions.put('other', 'u1', { plan_id: 'basic' });

    pagesFetched.length = 0;
    const seen: string[] = [];
    for await (const sub of client.subscriptions.iterate({ shop_id: 'acme', limit: 3 })) seen.push(sub.user_id);
    assert.deepEqual(seen.sort(), users);
    assert.equal(pagesFetched.length, 3);
    assert.ok(pagesFetched.every((url) => url.includes('shop_id=acme') && url.includes('limit=3')));
    assert.ok(pagesFetched.slice(1).every((url) => url.includes('cursor=')));

    const everyone: string[] = [];
    for await (const sub of client.subscriptions.iterate({ limit: 100 })) everyone.push(`${sub.shop_id}/${sub.user_id}`);
    assert.equal(everyone.length, 8);

    for (let i = 0; i < 5; i++) await client.usage.record({ event_id: `e${i}`, shop_id: 'acme', user_id: 'u1', tokens: 10 });
    const events: string[] = [];
    for await (const event of client.usage.iterate({ shop_id: 'acme', user_id: 'u1', limit: 2 })) events.push(event.event_id);
    assert.deepEqual(events, ['e0', 'e1', 'e2', 'e3', 'e4']);

    let stoppedAfter = 0;
    for await (const _plan of client.plans.iterate({ limit: 1 })) {
      stoppedAfter++;
      break;
    }
    assert.equal(stoppedAfter, 1);
  });

  test(`${dialect}: client replays idempotent writes`, async (t) => {
    const allot = await startAllot(dialect, { clock: START });
    t.after(allot.close);
    const client = new AllotClient({ baseUrl: allot.url, apiKey: MASTER_KEY });
    await client.plans.create(plans.basic);
    await client.subscriptions.put('acme', 'alice', { plan_id: 'basic' }, { idempotencyKey: 'sub-1' });
    const replayedPut = await client.request('PUT', '/v1/subscriptions/acme/alice', { body: { plan_id: 'basic' }, idempotencyKey: 'sub-1' });
    assert.equal(replayedPut.status, 201);
    assert.equal(replayedPut.replayed, true);

    const first = await client.reservations.create({ shop_id: 'acme', user_id: 'alice', tokens: 1_000 }, { idempotencyKey: 'hold-1' });
    const again = await client.reservations.create({ shop_id: 'acme', user_id: 'alice', tokens: 1_000 }, { idempotencyKey: 'hold-1' });
    assert.deepEqual(again, first);
    assert.equal((await client.subscriptions.get('acme', 'alice')).reserved_tokens, 1_000);

    const conflict = await rejection(
      client.reservations.create({ shop_id: 'acme', user_id: 'alice', tokens: 2_000 }, { idempotencyKey: 'hold-1' }),
    );
    assert.equal(conflict.status, 409);
    assert.equal(conflict.code, 'idempotency_conflict');

    const fresh = await client.request('POST', '/v1/reservations', { body: { shop_id: 'acme', user_id: 'alice', tokens: 500 }, idempotencyKey: 'hold-2' });
    assert.equal(fresh.replayed, false);
    assert.equal((await client.subscriptions.get('acme', 'alice')).reserved_tokens, 1_500);
  });
}

// Compile-time checks (npm run typecheck): the request types are the server's own.
export function typeChecks(client: AllotClient): void {
  // @ts-expect-error unknown fields are rejected, as the server does
  void client.plans.create({ ...plans.basic, bogus: 1 });
  // @ts-expect-error billing_cycle is an enum
  void client.plans.create({ ...plans.basic, billing_cycle: 'weekly' });
  // @ts-expect-error status filters take a subscription status
  void client.subscriptions.list({ status: 'paused' });
}
