/**
 * Rates are read in each event's own transaction, so a weight change made
 * through one server prices the very next event on every other server, and
 * weighted enforcement holds the allowance however requests are spread.
 * PostgreSQL: two servers on one database; SQLite: one server process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { plans } from '../support/harness.ts';
import { startCluster, type ServerProcess } from '../support/processes.ts';

for (const dialect of DIALECTS) {
  const count = dialect === 'postgres' ? 2 : 1;
  test(`${dialect}: weights changed on one server price the next event on every server; weighted enforcement over ${count} process(es) ends at the allowance`, async (t) => {
    const { servers } = await startCluster(t, dialect, count);
    const [a, b = a] = servers as [ServerProcess, ServerProcess?];
    assert.equal((await a.api('POST', '/v1/plans', plans.basic)).status, 201);
    assert.equal((await b.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);
    const usage = (server: ServerProcess, eventId: string, extra: Record<string, unknown> = {}) =>
      server.api('POST', '/v1/usage', { event_id: eventId, shop_id: 'shop1', user_id: 'u1', input_tokens: 100, output_tokens: 10, model: 'm', ...extra });

    // A's first event reads "no rates" (the plain sum); B sets a rate; A's next event is priced by it.
    assert.equal((await usage(a, 'plain')).body.tokens, 110);
    assert.equal((await b.api('PUT', '/v1/models/m', { input_weight: 2, output_weight: 10 })).status, 201);
    assert.equal((await usage(a, 'first')).body.tokens, 300);
    assert.equal((await b.api('PUT', '/v1/models/m', { input_weight: '0.5', output_weight: '5' })).status, 200);
    assert.equal((await usage(a, 'second')).body.tokens, 100);
    assert.equal((await b.api('DELETE', '/v1/models/m')).status, 204);
    assert.equal((await b.api('PUT', '/v1/models/other', { input_weight: 1, output_weight: 1 })).status, 201);
    const refused = await usage(a, 'unpriced');
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'model_not_priced');

    // 100 000 − 510 used = 99 490 left; each event costs 100·24.5 + 10·5 = 2500: 39 fit (97 500), a 40th would not.
    assert.equal((await a.api('PUT', '/v1/models/m', { input_weight: '24.5', output_weight: '5' })).status, 201);
    const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => usage(i % 2 === 0 ? a : b, `race-${i}`, { enforce: true })));
    const accepted = answers.filter((r) => r.status === 200);
    assert.equal(answers.filter((r) => r.status !== 200 && r.status !== 429).length, 0, JSON.stringify(answers.find((r) => r.status !== 200 && r.status !== 429)?.body));
    assert.equal(accepted.length, 39);
    for (const server of servers) {
      const sub = await server.api('GET', '/v1/subscriptions/shop1/u1');
      assert.equal(sub.body.used_tokens, 510 + 39 * 2500);
    }
  });
}
