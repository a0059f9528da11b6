/**
 * One live subscription per (shop, user), enforced by the database, when
 * PUTs for the same pair reach two server processes at once; and the state
 * the servers share rather than keep: Idempotency-Keys and API keys.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { plans } from '../support/harness.ts';
import { clusterForSuite, type ServerProcess } from '../support/processes.ts';

describe('postgres: two server processes on one database', () => {
  const cluster = clusterForSuite('postgres', 2);
  before(async () => {
    const [a] = cluster().servers as [ServerProcess];
    for (const plan of [plans.basic, plans.pro, plans.enterprise]) assert.equal((await a.api('POST', '/v1/plans', plan)).status, 201);
  });

  test('concurrent PUTs on both servers create one live subscription per user', async () => {
    const { servers, testDb } = cluster();
    const [a, b] = servers as [ServerProcess, ServerProcess];
    assert.ok(testDb);

    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    const puts = await Promise.all(
      users.flatMap((user) =>
        [a, b, a, b, a, b].map((server) =>
          server.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: 'basic' }).then((r) => ({ user, r })),
        ),
      ),
    );
    for (const user of users) {
      const answers = puts.filter((p) => p.user === user).map((p) => p.r);
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 201], `${user}: ${JSON.stringify(answers.map((r) => r.body))}`);
      assert.deepEqual(answers.map((r) => r.body.action_performed).sort(), ['create', 'none', 'none', 'none', 'none', 'none']);
      assert.equal(new Set(answers.map((r) => r.body.id)).size, 1, `${user} got several subscriptions`);
    }
    const rows = await testDb.db.all<{ user_id: string; n: number }>(
      `SELECT user_id, COUNT(*) AS n FROM subscriptions WHERE shop_id = 'shop1' GROUP BY user_id ORDER BY user_id`,
    );
    assert.deepEqual(rows, [...users].sort().map((user_id) => ({ user_id, n: 1 })));
    for (const server of [a, b]) {
      const listed = await server.api('GET', '/v1/subscriptions?shop_id=shop1&status=active&limit=100');
      assert.equal(listed.body.data.length, users.length);
    }
  });

  test('plan changes racing on two servers apply one after the other', async () => {
    const { servers } = cluster();
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    for (const user of users) assert.equal((await b.api('PUT', `/v1/subscriptions/shop2/${user}`, { plan_id: 'basic' })).status, 201);

    const changes = await Promise.all(
      users.map((user) =>
        Promise.all([
          a.api('PUT', `/v1/subscriptions/shop2/${user}`, { plan_id: 'pro' }),
          b.api('PUT', `/v1/subscriptions/shop2/${user}`, { plan_id: 'enterprise' }),
        ]),
      ),
    );
    for (const [i, [toPro, toEnterprise]] of changes.entries()) {
      assert.equal(toPro.status, 200, JSON.stringify(toPro.body));
      assert.equal(toEnterprise.status, 200, JSON.stringify(toEnterprise.body));
      // Serialised: exactly one of the two changes saw basic as the plan it replaced.
      const [first, second] = toPro.body.previous_plan_id === 'basic' ? [toPro, toEnterprise] : [toEnterprise, toPro];
      assert.equal(first.body.previous_plan_id, 'basic', JSON.stringify([toPro.body, toEnterprise.body]));
      assert.equal(second.body.previous_plan_id, first.body.plan_id);
      const status = await (i % 2 ? a : b).api('GET', `/v1/subscriptions/shop2/${users[i]}/status?include_history=true`);
      assert.equal(status.body.plan_id, second.body.plan_id);
      assert.deepEqual(status.body.plan_history.map((h: { plan_id: string }) => h.plan_id), ['basic', first.body.plan_id]);
    }
  });

  test('one Idempotency-Key sent to both servers at once runs once', async () => {
    const [a, b] = cluster().servers as [ServerProcess, ServerProcess];
    const users = Array.from({ length: 10 }, (_, i) => `k${i}`);
    const answers = await Promise.all(
      users.map((user) =>
        Promise.all(
          [a, b, a, b].map((server) =>
            server.api('PUT', `/v1/subscriptions/shop3/${user}`, { plan_id: 'basic' }, { headers: { 'idempotency-key': `put-${user}` } }),
          ),
        ),
      ),
    );
    for (const [i, copies] of answers.entries()) {
      const ran = copies.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') !== 'true');
      assert.equal(ran.length, 1, JSON.stringify(copies.map((r) => [r.status, r.body])));
      for (const r of copies) {
        if (r.status === 409) assert.equal(r.body.code, 'idempotency_in_flight');
        else assert.equal(r.body.id, ran[0]!.body.id, 'a replay answers the first result');
      }
      const replay = await (i % 2 ? a : b).api('PUT', `/v1/subscriptions/shop3/${users[i]}`, { plan_id: 'basic' }, { headers: { 'idempotency-key': `put-${users[i]}` } });
      assert.equal(replay.status, 201);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.equal(replay.body.id, ran[0]!.body.id);
    }
  });

  test('an API key created on one server works on the other, and its revocation applies on both at once', async () => {
    const [a, b] = cluster().servers as [ServerProcess, ServerProcess];
    const created = await a.api('POST', '/v1/api-keys', { name: 'shop4', role: 'shop', shop_id: 'shop4' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const key = created.body.key as string;
    assert.equal((await b.api('PUT', '/v1/subscriptions/shop4/u1', { plan_id: 'basic' }, { key })).status, 201);
    // Both servers have now seen the key, reading and writing with it.
    for (const [i, server] of [a, b].entries()) {
      const used = await server.api('POST', '/v1/usage', { event_id: `before-${i}`, shop_id: 'shop4', user_id: 'u1', tokens: 1 }, { key });
      assert.equal(used.status, 200, JSON.stringify(used.body));
      assert.equal((await server.api('GET', '/v1/subscriptions/shop4/u1', undefined, { key })).status, 200);
    }
    assert.equal((await b.api('DELETE', `/v1/api-keys/${created.body.id}`)).status, 200);
    for (const [i, server] of [a, b].entries()) {
      for (const [method, path, body] of [
        ['GET', '/v1/subscriptions/shop4/u1', undefined],
        ['POST', '/v1/usage', { event_id: `after-${i}`, shop_id: 'shop4', user_id: 'u1', tokens: 1 }],
        ['POST', '/v1/usage', { event_id: `after-${i}`, shop_id: 'shop4', user_id: 'u1', tokens: -1 }],
        ['POST', '/v1/check', { shop_id: 'another-shop', user_id: 'u1' }],
      ] as const) {
        const refused = await server.api(method, path, body, { key });
        assert.equal(refused.status, 401, `${method} ${path}: ${JSON.stringify(refused.body)}`);
      }
    }
    const sub = await a.api('GET', '/v1/subscriptions/shop4/u1');
    assert.equal(sub.body.used_tokens, 2, 'only the events sent before the revocation counted');
  });
});
