/**
 * Malformed requests (SPEC §1, §9): every error is a problem+json document
 * with type, title, status, detail and code; a rejected request changes
 * nothing; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

const NOW = '2026-01-31T12:00:00.000Z';

async function snapshot(allot: Allot) {
  const sub = (await allot.api('GET', '/v1/subscriptions/s1/u1')).body;
  const events = (await allot.api('GET', '/v1/usage?limit=100')).body.data;
  const plans = (await allot.api('GET', '/v1/plans?limit=100')).body.data;
  return { sub, events, plans };
}

for (const dialect of DIALECTS) {
  test(`${dialect}: errors — malformed requests are problems and change nothing`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic', 'pro']);
    await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' });
    await allot.api('POST', '/v1/usage', { event_id: 'e0', shop_id: 's1', user_id: 'u1', tokens: 10 });
    const before = await snapshot(allot);
    const usage = (raw: string, headers?: Record<string, string>) => allot.api('POST', '/v1/usage', undefined, { raw, headers });

    await t.test('unknown fields → 400 naming each', async () => {
      const res = await allot.api('POST', '/v1/usage', { event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 1, color: 1, size: 2 });
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(res.body.errors, [
        { path: 'color', message: 'is not a known field' },
        { path: 'size', message: 'is not a known field' },
      ]);
      const proto = await usage('{"event_id":"e1","shop_id":"s1","user_id":"u1","tokens":1,"__proto__":{"enforce":true}}');
      assertProblem(proto, 400, 'validation_error');
      assert.deepEqual(errorPaths(proto), ['__proto__']);
    });

    await t.test('bad identifiers in paths, bodies and queries → 400', async () => {
      const path = await allot.api('GET', `/v1/subscriptions/${encodeURIComponent('s 1')}/${'u'.repeat(129)}`);
      assertProblem(path, 400, 'validation_error');
      assert.deepEqual(errorPaths(path), ['shop_id', 'user_id']);
      const body = await allot.api('POST', '/v1/usage', { event_id: 'e/1', shop_id: 's1', user_id: 'ü', tokens: 1 });
      assert.deepEqual(errorPaths(body), ['event_id', 'user_id']);
      assertProblem(await allot.api('GET', '/v1/plans/%00'), 400, 'validation_error');
      const long = await allot.api('GET', `/v1/plans/${'p'.repeat(600)}`);
      assertProblem(long, 400, 'validation_error');
      assert.deepEqual(long.body.errors, [{ path: 'id', message: 'must be 1–128 characters of A-Z a-z 0-9 . _ : @ -' }], 'a too-long id is named as such');
      const limit = await allot.api('GET', '/v1/subscriptions?limit=abc');
      assert.deepEqual(errorPaths(limit), ['limit']);
      assertProblem(await allot.api('GET', '/v1/subscriptions/s1/u1/status?include_history=maybe'), 400, 'validation_error');
    });

    await t.test('token counts must be integers 0 … 10^12', async () => {
      for (const tokens of ['-1', '1.5', '1000000000001', '1e309', '"5"', 'null', 'true', '[1]']) {
        const res = await usage(`{"event_id":"e1","shop_id":"s1","user_id":"u1","tokens":${tokens}}`);
        assertProblem(res, 400, 'validation_error');
        assert.deepEqual(errorPaths(res), ['tokens'], tokens);
      }
    });

    await t.test('invalid JSON → 400 invalid_json', async () => {
      assertProblem(await usage('{"event_id": "e1",'), 400, 'invalid_json');
      assertProblem(await usage("{'event_id': 'e1'}"), 400, 'invalid_json');
      assertProblem(await usage('{"a":1}garbage'), 400, 'invalid_json');
    });

    await t.test('a body that is not an object → 400', async () => {
      for (const raw of ['[]', '"text"', '42', 'null']) {
        assertProblem(await usage(raw), 400, 'validation_error');
      }
      assertProblem(await usage(''), 400, 'validation_error');
      assertProblem(await allot.api('POST', '/v1/subscriptions/s1/u1/suspend', { reason: 'x' }), 400, 'validation_error');
    });

    await t.test('a body that is not JSON → 415', async () => {
      assertProblem(await usage('event_id=e1&tokens=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
      assertProblem(await usage('{"event_id":"e1"}', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
      const charset = await usage('{"event_id":"ok-charset","shop_id":"s1","user_id":"u1","tokens":0}', { 'content-type': 'application/json; charset=utf-8' });
      assertStatus(charset, 200);
    });

    await t.test('a body over 64 KiB → 413', async () => {
      const big = JSON.stringify({ event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 1, model: 'm'.repeat(65 * 1024) });
      assertProblem(await usage(big), 413, 'payload_too_large');
      const justUnder = JSON.stringify({ event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 1, model: 'm'.repeat(300) }).padEnd(64 * 1024, ' ');
      assert.equal(Buffer.byteLength(justUnder), 64 * 1024);
      assertProblem(await usage(justUnder), 400, 'validation_error');
    });

    await t.test('headers over 16 KiB → 431 problem', async () => {
      const res = await usage(JSON.stringify({ event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 1 }), { 'x-padding': 'p'.repeat(20 * 1024) });
      assertProblem(res, 431, 'headers_too_large');
    });

    await t.test('an unknown route → 404 problem', async () => {
      const res = await allot.api('GET', '/v1/nothing-here');
      assertProblem(res, 404, 'not_found');
      assertProblem(await allot.api('DELETE', '/v1/plans/basic'), 404, 'not_found');
      assertProblem(await allot.api('GET', '/v1/nothing-here', undefined, { key: null }), 404, 'not_found');
    });

    await t.test('the test clock refuses to go back, and only exists when configured', async () => {
      const back = await allot.api('PUT', '/v1/test-clock', { now: '2026-01-01T00:00:00.000Z' });
      assertProblem(back, 400, 'validation_error');
      assert.deepEqual(errorPaths(back), ['now']);
      assertProblem(await allot.api('PUT', '/v1/test-clock', { now: 'tomorrow' }), 400, 'validation_error');
      assert.equal((await allot.api('GET', '/v1/test-clock')).body.now, NOW);
    });

    await t.test('nothing above changed anything', async () => {
      const after = await snapshot(allot);
      assert.deepEqual(after.sub, before.sub);
      assert.deepEqual(after.plans, before.plans);
      assert.deepEqual(after.events.map((e: { event_id: string }) => e.event_id), ['e0', 'ok-charset']);
    });
  });

  test(`${dialect}: errors — a real clock server has no test clock`, async (t) => {
    const allot = await startAllot(dialect);
    t.after(allot.close);
    assertProblem(await allot.api('PUT', '/v1/test-clock', { now: '2099-01-01T00:00:00.000Z' }), 404, 'not_found');
    assert.equal((await allot.api('GET', '/v1/test-clock')).body.frozen, false);
  });

  test(`${dialect}: errors — a failure inside never leaks internals`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await allot.testDb.db.run('DROP TABLE plans CASCADE'.replace(' CASCADE', dialect === 'postgres' ? ' CASCADE' : ''));
    const res = await allot.api('GET', '/v1/plans');
    assertProblem(res, 500, 'internal_error');
    assert.equal(res.body.detail, 'An unexpected error occurred; it has been logged.');
    assert.doesNotMatch(JSON.stringify(res.body), /SQL|sqlite|relation|stack|\.ts\b/i);
  });
}
