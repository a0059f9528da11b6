/**
 * Exactly once per (shop, event_id) when the same event reaches two server
 * processes at the same time (a client retrying through a load balancer).
 * SQLite runs the same test on its one server process.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { plans } from '../support/harness.ts';
import { clusterForSuite, type ServerProcess } from '../support/processes.ts';

for (const dialect of DIALECTS) {
  const count = dialect === 'postgres' ? 2 : 1;

  describe(`${dialect}: ${count} server process(es) on one database`, () => {
    const cluster = clusterForSuite(dialect, count);
    before(async () => {
      const [a] = cluster().servers as [ServerProcess];
      assert.equal((await a.api('POST', '/v1/plans', plans.pro)).status, 201);
    });

    test(`the same event sent to ${count} server process(es) four times at once counts once`, async () => {
      const { servers } = cluster();
      const [a, b = a] = servers as [ServerProcess, ServerProcess?];
      assert.equal((await b.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'pro' })).status, 201);

      const events = Array.from({ length: 30 }, (_, i) => ({ event_id: `evt-${i}`, shop_id: 'shop1', user_id: 'u1', tokens: 100 + i }));
      // Four copies of every event, two through each server, all in flight together.
      const sent = await Promise.all(
        events.flatMap((event) => [a, b, a, b].map((server) => server.api('POST', '/v1/usage', event).then((r) => ({ event, r })))),
      );
      for (const { event, r } of sent) assert.equal(r.status, 200, `${event.event_id}: ${JSON.stringify(r.body)}`);
      for (const event of events) {
        const answers = sent.filter((s) => s.event.event_id === event.event_id).map((s) => s.r.body);
        assert.equal(answers.filter((body) => body.duplicate === false).length, 1, `${event.event_id} counted ${JSON.stringify(answers)}`);
        // Every copy answers the first result.
        assert.equal(new Set(answers.map((body) => body.used_tokens)).size, 1, JSON.stringify(answers));
      }
      const total = events.reduce((sum, e) => sum + e.tokens, 0);
      for (const server of [a, b]) {
        const sub = await server.api('GET', '/v1/subscriptions/shop1/u1');
        assert.equal(sub.body.used_tokens, total);
        const listed = await server.api('GET', '/v1/usage?shop_id=shop1&user_id=u1&limit=100');
        assert.equal(listed.body.data.length, events.length);
        const daily = await server.api('GET', '/v1/subscriptions/shop1/u1/status?include_history=true');
        assert.equal(daily.body.usage_history.total_queries, events.length);
      }
    });

    test(`one event id with two contents at once: one counts, the other is a conflict`, async () => {
      const { servers } = cluster();
      const [a, b = a] = servers as [ServerProcess, ServerProcess?];
      assert.equal((await b.api('PUT', '/v1/subscriptions/shop2/u1', { plan_id: 'pro' })).status, 201);

      const pairs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          Promise.all([
            a.api('POST', '/v1/usage', { event_id: `c-${i}`, shop_id: 'shop2', user_id: 'u1', tokens: 1000 }),
            b.api('POST', '/v1/usage', { event_id: `c-${i}`, shop_id: 'shop2', user_id: 'u1', tokens: 7 }),
          ]),
        ),
      );
      let total = 0;
      for (const [fromA, fromB] of pairs) {
        assert.deepEqual([fromA.status, fromB.status].sort(), [200, 409], JSON.stringify([fromA.body, fromB.body]));
        const loser = fromA.status === 409 ? fromA : fromB;
        assert.equal(loser.body.code, 'idempotency_conflict');
        total += fromA.status === 200 ? 1000 : 7;
      }
      for (const server of [a, b]) {
        const sub = await server.api('GET', '/v1/subscriptions/shop2/u1');
        assert.equal(sub.body.used_tokens, total);
      }
      for (let i = 0; i < 20; i++) {
        const stored = await b.api('GET', `/v1/usage/c-${i}?shop_id=shop2`);
        assert.equal(stored.status, 200);
        assert.equal(stored.body.tokens, pairs[i]![0].status === 200 ? 1000 : 7);
      }
    });
  });
}
