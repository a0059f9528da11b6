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

for (const dialect of DIALECTS) {
  test(`${dialect}: text with the NUL character or a lone surrogate is refused with 400 naming the field; an escaped backslash before u0000 is plain text`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-10T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);
    const attempts: Array<[string, string, Record<string, unknown>, string]> = [
      ['POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 1, model: 'gpt\u0000' }, 'model'],
      ['POST', '/v1/plans', { id: 'nul', display_name: 'Nul\u0000plan', allocated_tokens: 1, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 1 }, 'display_name'],
      ['POST', '/v1/api-keys', { name: '\u0000', role: 'admin' }, 'name'],
      ['POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 1, 'mo\u0000del': 'x' }, 'mo\u0000del'],
      ['POST', '/v1/plans', { id: 'lone', display_name: '\udc00', allocated_tokens: 1, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 1 }, 'display_name'],
      ['POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 1, model: 'a\ud83d' }, 'model'],
    ];
    for (const [method, path, body, field] of attempts) {
      const res = await allot.api(method, path, body);
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'validation_error');
      assert.match(res.body.detail, /NUL/);
      assert.deepEqual(res.body.errors.map((e: { path: string }) => e.path), [field]);
    }
    const events = await allot.api('GET', '/v1/usage?shop_id=shop1');
    assert.equal(events.body.data.length, 0, 'nothing was recorded');
    assert.equal((await allot.api('GET', '/v1/plans/lone')).status, 404);
    assert.equal((await allot.api('GET', '/v1/plans/nul')).status, 404);

    // A cursor made by hand around a real one.
    const real = (await allot.api('GET', '/v1/plans?limit=1')).body.next_cursor as string;
    const forged = JSON.parse(Buffer.from(real, 'base64url').toString('utf8'));
    forged.after = 'a\u0000';
    const page = await allot.api('GET', `/v1/plans?limit=1&cursor=${Buffer.from(JSON.stringify(forged)).toString('base64url')}`);
    assert.equal(page.status, 400, JSON.stringify(page.body));
    assert.equal(page.body.errors[0].path, 'cursor');

    const paired = await allot.api('POST', '/v1/usage', { event_id: 'e3', shop_id: 'shop1', user_id: 'u1', tokens: 1, model: 'robot \ud83e\udd16' });
    assert.equal(paired.status, 200, JSON.stringify(paired.body));
    assert.equal((await allot.api('GET', '/v1/usage/e3?shop_id=shop1')).body.model, 'robot 🤖', 'a surrogate pair is one character, stored as sent');

    const literal = await allot.api('POST', '/v1/usage', { event_id: 'e2', shop_id: 'shop1', user_id: 'u1', tokens: 1, model: 'gpt\\u0000' });
    assert.equal(literal.status, 200, JSON.stringify(literal.body));
    assert.equal((await allot.api('GET', '/v1/usage/e2?shop_id=shop1')).body.model, 'gpt\\u0000');
  });
}
