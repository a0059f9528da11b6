import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { MASTER_KEY, seedPlans, startAllot } from '../support/harness.ts';

/** Sends a path as is: fetch would resolve `..` segments before sending. */
function rawPut(url: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { hostname, port, path, method: 'PUT', headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: ids that read as path segments and impossible days are refused`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-10T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);

    const dotted = await rawPut(allot.url, '/v1/subscriptions/shop1/%2E%2E', { plan_id: 'basic' });
    assert.equal(dotted.status, 400);
    assert.equal(dotted.body.code, 'validation_error');
    assert.deepEqual(dotted.body.errors.map((e: { path: string }) => e.path), ['user_id']);
    const usage = await allot.api('POST', '/v1/usage', { event_id: '.', shop_id: 'shop1', user_id: 'u1', tokens: 1 });
    assert.equal(usage.status, 400);
    assert.deepEqual(usage.body.errors.map((e: { path: string }) => e.path), ['event_id']);

    const list = await allot.api('GET', '/v1/usage?shop_id=shop1&from=2026-02-30');
    assert.equal(list.status, 400);
    assert.equal(list.body.errors[0].path, 'from');
    assert.equal((await allot.api('GET', '/v1/usage?shop_id=shop1&from=2026-02-28&to=2026-03-01T00:00:00Z')).status, 200);

    const clock = await allot.api('PUT', '/v1/test-clock', { now: '2026-02-30T00:00:00Z' });
    assert.equal(clock.status, 400);
    assert.equal((await allot.api('GET', '/v1/test-clock')).body.now, '2026-01-10T00:00:00.000Z');
  });
}
