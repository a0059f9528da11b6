/**
 * Holds placed and settled through two server processes on one PostgreSQL
 * database: the sum of holds and usage never exceeds the allowance, and a
 * commit sent to both servers at once counts once. SQLite runs the same
 * tests on its one server process.
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
      assert.equal((await a.api('POST', '/v1/plans', plans.basic)).status, 201);
    });

    test(`holds split across ${count} server process(es) never exceed the allowance; commits sent twice at once count once`, async () => {
      const { servers } = cluster();
      const [a, b = a] = servers as [ServerProcess, ServerProcess?];
      assert.equal((await b.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);

      const holds = await Promise.all(
        Array.from({ length: 80 }, (_, i) =>
          (i % 2 === 0 ? a : b).api('POST', '/v1/reservations', { shop_id: 'shop1', user_id: 'u1', tokens: 3000 }),
        ),
      );
      const placed = holds.filter((r) => r.status === 201);
      const refused = holds.filter((r) => r.status === 429);
      assert.equal(placed.length + refused.length, 80, JSON.stringify(holds.map((r) => r.body)));
      assert.equal(placed.length, 33);
      assert.ok(refused.every((r) => r.body.code === 'quota_exceeded'));
      for (const server of [a, b]) {
        const sub = await server.api('GET', '/v1/subscriptions/shop1/u1');
        assert.equal(sub.body.reserved_tokens, 99_000);
        assert.equal(sub.body.remaining_tokens, 1_000);
      }

      // Every hold committed on both servers at once, while enforced usage and
      // new holds race for the space a commit could free between its two writes.
      const ids = placed.map((r) => r.body.id as string);
      const commits = ids.flatMap((id) =>
        [a, b].map((server) => server.api('POST', `/v1/reservations/${id}/commit`, { tokens: 3000 }).then((r) => ({ id, r }))),
      );
      const intruders = Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? (i % 4 === 0 ? a : b).api('POST', '/v1/usage', { event_id: `x${i}`, shop_id: 'shop1', user_id: 'u1', tokens: 3000, enforce: true })
          : (i % 4 === 1 ? a : b).api('POST', '/v1/reservations', { shop_id: 'shop1', user_id: 'u1', tokens: 3000 }),
      );
      const [committed, intruded] = await Promise.all([Promise.all(commits), Promise.all(intruders)]);
      for (const { id, r } of committed) assert.equal(r.status, 200, `${id}: ${JSON.stringify(r.body)}`);
      for (const id of ids) {
        const pair = committed.filter((c) => c.id === id).map((c) => c.r.body);
        assert.deepEqual(pair.map((body) => body.duplicate).sort(), [false, true], id);
        assert.equal(pair[0].event_id, pair[1].event_id);
        assert.equal(pair[0].used_tokens, pair[1].used_tokens);
      }
      assert.deepEqual(
        committed.filter((c) => !c.r.body.duplicate).map((c) => c.r.body.used_tokens).sort((x, y) => x - y),
        Array.from({ length: 33 }, (_, i) => (i + 1) * 3000),
      );
      for (const r of intruded) assert.equal(r.status, 429, JSON.stringify(r.body));

      for (const server of [a, b]) {
        const sub = await server.api('GET', '/v1/subscriptions/shop1/u1');
        assert.equal(sub.body.used_tokens, 99_000);
        assert.equal(sub.body.reserved_tokens, 0);
        const events = await server.api('GET', '/v1/usage?shop_id=shop1&user_id=u1&limit=100');
        assert.equal(events.body.data.length, 33);
      }
      for (const id of ids.slice(0, 5)) {
        const hold = await b.api('GET', `/v1/reservations/${id}?shop_id=shop1`);
        assert.equal(hold.body.status, 'committed', JSON.stringify(hold.body));
      }
    });

    test(`a hold released on one server frees its tokens for the other`, async () => {
      const { servers } = cluster();
      const [a, b = a] = servers as [ServerProcess, ServerProcess?];
      assert.equal((await a.api('PUT', '/v1/subscriptions/shop2/u1', { plan_id: 'basic' })).status, 201);
      const big = await a.api('POST', '/v1/reservations', { reservation_id: 'big', shop_id: 'shop2', user_id: 'u1', tokens: 90_000 });
      assert.equal(big.status, 201, JSON.stringify(big.body));

      // Releases on both at once, while both try to take the freed space: at most
      // one 90000 hold fits, whoever gets there first.
      const [releaseA, releaseB, ...takers] = await Promise.all([
        a.api('POST', '/v1/reservations/big/release', { shop_id: 'shop2' }),
        b.api('POST', '/v1/reservations/big/release', { shop_id: 'shop2' }),
        ...Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? a : b).api('POST', '/v1/reservations', { shop_id: 'shop2', user_id: 'u1', tokens: 90_000 }),
        ),
      ]);
      assert.equal(releaseA!.status, 200, JSON.stringify(releaseA!.body));
      assert.equal(releaseB!.status, 200, JSON.stringify(releaseB!.body));
      const took = takers.filter((r) => r.status === 201).length;
      assert.ok(takers.every((r) => r.status === 201 || r.status === 429), JSON.stringify(takers.map((r) => r.body)));
      assert.ok(took <= 1, `${took} holds of 90000 placed on a 100000 allowance`);
      const sub = await b.api('GET', '/v1/subscriptions/shop2/u1');
      assert.equal(sub.body.reserved_tokens, took * 90_000);
      if (took === 0) {
        const after = await b.api('POST', '/v1/reservations', { shop_id: 'shop2', user_id: 'u1', tokens: 90_000 });
        assert.equal(after.status, 201, JSON.stringify(after.body));
      }
    });
  });
}
