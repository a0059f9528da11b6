/**
 * One live subscription per (shop, user), enforced by the database, when
 * PUTs for the same pair reach two server processes at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plans } from '../support/harness.ts';
import { startCluster, type ServerProcess } from '../support/processes.ts';

test('postgres: concurrent PUTs on both servers create one live subscription per user', async (t) => {
  const { servers, testDb } = await startCluster(t, 'postgres', 2);
  const [a, b] = servers as [ServerProcess, ServerProcess];
  assert.ok(testDb);
  assert.equal((await a.api('POST', '/v1/plans', plans.basic)).status, 201);

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

test('postgres: plan changes racing on two servers apply one after the other', async (t) => {
  const { servers } = await startCluster(t, 'postgres', 2);
  const [a, b] = servers as [ServerProcess, ServerProcess];
  for (const plan of [plans.basic, plans.pro, plans.enterprise]) assert.equal((await a.api('POST', '/v1/plans', plan)).status, 201);
  const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
  for (const user of users) assert.equal((await b.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: 'basic' })).status, 201);

  const changes = await Promise.all(
    users.map((user) =>
      Promise.all([
        a.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: 'pro' }),
        b.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: 'enterprise' }),
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
    const status = await (i % 2 ? a : b).api('GET', `/v1/subscriptions/shop1/${users[i]}/status?include_history=true`);
    assert.equal(status.body.plan_id, second.body.plan_id);
    assert.deepEqual(status.body.plan_history.map((h: { plan_id: string }) => h.plan_id), ['basic', first.body.plan_id]);
  }
});
