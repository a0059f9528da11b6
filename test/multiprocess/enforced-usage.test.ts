/**
 * Enforced usage is consume-or-reject in one guarded statement, so the
 * allowance holds however the requests are spread over server processes.
 * PostgreSQL: two servers on one database; SQLite: one server process (one
 * SQLite file serves one process).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { plans } from '../support/harness.ts';
import { startCluster, type ServerProcess } from '../support/processes.ts';

for (const dialect of DIALECTS) {
  const count = dialect === 'postgres' ? 2 : 1;
  test(`${dialect}: 80 concurrent enforced requests of 3000 tokens on a 100000 allowance over ${count} server process(es): exactly 33 accepted`, async (t) => {
    const { servers } = await startCluster(t, dialect, count);
    const [a, b = a] = servers as [ServerProcess, ServerProcess?];
    const plan = await a.api('POST', '/v1/plans', plans.basic);
    assert.equal(plan.status, 201, JSON.stringify(plan.body));
    const put = await b.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' });
    assert.equal(put.status, 201, JSON.stringify(put.body));

    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        (i % 2 === 0 ? a : b).api('POST', '/v1/usage', {
          event_id: `e${i}`, shop_id: 'shop1', user_id: 'u1', tokens: 3000, enforce: true,
        }),
      ),
    );
    const accepted = answers.filter((r) => r.status === 200);
    const rejected = answers.filter((r) => r.status === 429);
    assert.equal(accepted.length + rejected.length, 80, JSON.stringify(answers.filter((r) => r.status !== 200 && r.status !== 429).map((r) => r.body)));
    assert.equal(accepted.length, 33);
    assert.equal(rejected.length, 47);
    for (const r of rejected) {
      assert.equal(r.body.code, 'quota_exceeded');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    }
    // Each accepted request saw its own total: the increments were serialised, none lost.
    const totals = accepted.map((r) => r.body.used_tokens as number).sort((x, y) => x - y);
    assert.deepEqual(totals, Array.from({ length: 33 }, (_, i) => (i + 1) * 3000));

    for (const server of servers) {
      const sub = await server.api('GET', '/v1/subscriptions/shop1/u1');
      assert.equal(sub.status, 200, JSON.stringify(sub.body));
      assert.equal(sub.body.used_tokens, 99_000);
      assert.equal(sub.body.remaining_tokens, 1_000);
      const events = await server.api('GET', '/v1/usage?shop_id=shop1&user_id=u1&limit=100');
      assert.equal(events.status, 200, JSON.stringify(events.body));
      assert.deepEqual(
        events.body.data.map((e: { event_id: string }) => e.event_id).sort(),
        accepted.map((r) => r.body.event_id as string).sort(),
      );
    }
  });
}
