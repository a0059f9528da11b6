/**
 * Authentication and isolation (SPEC §2): bearer keys, the master key, key
 * management, 401/403/404 by role, and revocation at once; on both dialects.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { MASTER_KEY, createShopKey, plans, seedPlans, startAllot } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

const NOW = '2026-01-31T12:00:00.000Z';

for (const dialect of DIALECTS) {
  test(`${dialect}: auth — keys are required, made, listed and revoked`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);

    await t.test('missing or bad keys → 401', async () => {
      assertProblem(await allot.api('GET', '/v1/plans', undefined, { key: null }), 401, 'unauthorized');
      assertProblem(await allot.api('GET', '/v1/plans', undefined, { key: 'allot_sk_not-a-real-key' }), 401, 'unauthorized');
      assertProblem(await allot.api('GET', '/v1/plans', undefined, { key: `${MASTER_KEY}x` }), 401, 'unauthorized');
      const basic = await allot.api('GET', '/v1/plans', undefined, { key: null, headers: { authorization: `Basic ${MASTER_KEY}` } });
      assertProblem(basic, 401, 'unauthorized');
      assertProblem(await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'x' }, { key: null }), 401, 'unauthorized');
      assertStatus(await allot.api('GET', '/v1/plans', undefined, { key: MASTER_KEY }), 200);
    });

    await t.test('a created key is shown once, stored as SHA-256, and works', async () => {
      const created = await allot.api('POST', '/v1/api-keys', { name: 'ops', role: 'admin' });
      assertStatus(created, 201);
      assert.match(created.body.key, /^allot_sk_[A-Za-z0-9_-]{43}$/);
      assert.match(created.body.id, /^key_/);
      assert.equal(created.body.role, 'admin');
      assert.equal(created.body.shop_id, null);
      assert.equal(created.body.revoked_at, null);
      assert.ok(created.body.key.startsWith(created.body.prefix));
      const row = await allot.testDb.db.one<{ secret_hash: string }>('SELECT secret_hash FROM api_keys WHERE id = ?', [created.body.id]);
      assert.equal(row?.secret_hash, createHash('sha256').update(created.body.key).digest('hex'));
      const dump = JSON.stringify(await allot.testDb.db.all('SELECT * FROM api_keys'));
      assert.ok(!dump.includes(created.body.key), 'the key itself is never stored');

      assertStatus(await allot.api('POST', '/v1/plans', plans.basic, { key: created.body.key }), 201);
      const listed = await allot.api('GET', '/v1/api-keys');
      assertStatus(listed, 200);
      assert.deepEqual(listed.body.data.map((k: { id: string }) => k.id), [created.body.id]);
      assert.ok(!JSON.stringify(listed.body).includes(created.body.key), 'a list never shows secrets');
    });

    await t.test('a revoked key fails at once', async () => {
      const shopKey = await allot.api('POST', '/v1/api-keys', { name: 'shop', role: 'shop', shop_id: 's1' });
      assertStatus(await allot.api('GET', '/v1/plans', undefined, { key: shopKey.body.key }), 200);
      const revoked = await allot.api('DELETE', `/v1/api-keys/${shopKey.body.id}`);
      assertStatus(revoked, 200);
      assert.equal(revoked.body.revoked_at, NOW);
      assertProblem(await allot.api('GET', '/v1/plans', undefined, { key: shopKey.body.key }), 401, 'unauthorized');
      assertStatus(await allot.api('DELETE', `/v1/api-keys/${shopKey.body.id}`), 200);
      assertProblem(await allot.api('DELETE', '/v1/api-keys/key_nope'), 404, 'not_found');
    });

    await t.test('a revoked admin key changes nothing, the test clock included', async () => {
      const admin = await allot.api('POST', '/v1/api-keys', { name: 'ops2', role: 'admin' });
      assertStatus(await allot.api('PUT', '/v1/test-clock', { now: '2026-02-01T00:00:00.000Z' }, { key: admin.body.key }), 200);
      assertStatus(await allot.api('DELETE', `/v1/api-keys/${admin.body.id}`), 200);
      assertProblem(await allot.api('PUT', '/v1/test-clock', { now: '2026-03-01T00:00:00.000Z' }, { key: admin.body.key }), 401, 'unauthorized');
      assertProblem(await allot.api('POST', '/v1/plans', { ...plans.pro, id: 'after-revoke' }, { key: admin.body.key }), 401, 'unauthorized');
      assert.equal((await allot.api('GET', '/v1/test-clock')).body.now, '2026-02-01T00:00:00.000Z');
      assertProblem(await allot.api('GET', '/v1/plans/after-revoke'), 404, 'plan_not_found');
    });

    await t.test('key requests are validated', async () => {
      const noShop = await allot.api('POST', '/v1/api-keys', { name: 'x', role: 'shop' });
      assertProblem(noShop, 400, 'validation_error');
      assert.deepEqual(errorPaths(noShop), ['shop_id']);
      const adminShop = await allot.api('POST', '/v1/api-keys', { name: 'x', role: 'admin', shop_id: 's1' });
      assertProblem(adminShop, 400, 'validation_error');
      assert.deepEqual(errorPaths(adminShop), ['shop_id']);
      const role = await allot.api('POST', '/v1/api-keys', { name: 'x', role: 'root' });
      assert.deepEqual(errorPaths(role), ['role']);
      assert.equal((await allot.api('GET', '/v1/api-keys')).body.data.length, 3, 'nothing was created');
    });
  });

  test(`${dialect}: auth — a shop key sees its own shop only, and no admin operation`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    const keyA = await createShopKey(allot, 'shopA');
    const asA = { key: keyA };

    await allot.api('PUT', '/v1/subscriptions/shopB/u1', { plan_id: 'basic' });
    await allot.api('POST', '/v1/usage', { event_id: 'b-event', shop_id: 'shopB', user_id: 'u1', tokens: 5 });
    const hold = await allot.api('POST', '/v1/reservations', { shop_id: 'shopB', user_id: 'u1', tokens: 5 });

    await t.test('another shop\'s data answers 404, never 403', async () => {
      const attempts = [
        await allot.api('GET', '/v1/subscriptions/shopB/u1', undefined, asA),
        await allot.api('GET', '/v1/subscriptions/shopB/u1/status', undefined, asA),
        await allot.api('GET', '/v1/subscriptions/shopB/u1/usage/daily', undefined, asA),
        await allot.api('POST', '/v1/usage', { event_id: 'b-event', shop_id: 'shopB', user_id: 'u1', tokens: 5 }, asA),
        await allot.api('GET', '/v1/usage/b-event?shop_id=shopB', undefined, asA),
        await allot.api('GET', '/v1/usage/b-event', undefined, asA),
        await allot.api('GET', `/v1/reservations/${hold.body.id}`, undefined, asA),
        await allot.api('POST', `/v1/reservations/${hold.body.id}/commit`, { tokens: 1 }, asA),
        await allot.api('POST', '/v1/subscriptions/shopB/u1/cancel', { at_period_end: false }, asA),
      ];
      for (const res of attempts) {
        assert.equal(res.status, 404, JSON.stringify(res.body));
        assert.ok(!String(res.body.detail).includes('shopB'), `nothing about shop B leaks: ${res.body.detail}`);
      }
      const b = (await allot.api('GET', '/v1/subscriptions/shopB/u1')).body;
      assert.equal(b.status, 'active');
      assert.equal(b.used_tokens, 5);
      assert.equal(b.reserved_tokens, 5);
    });

    await t.test('admin-only operations answer 403 forbidden', async () => {
      const forbidden = [
        await allot.api('POST', '/v1/plans', { ...plans.pro }, asA),
        await allot.api('POST', '/v1/plans/basic/archive', undefined, asA),
        await allot.api('POST', '/v1/api-keys', { name: 'x', role: 'shop', shop_id: 'shopA' }, asA),
        await allot.api('GET', '/v1/api-keys', undefined, asA),
        await allot.api('DELETE', '/v1/api-keys/key_x', undefined, asA),
        await allot.api('POST', '/v1/renewals/run', undefined, asA),
        await allot.api('PUT', '/v1/test-clock', { now: '2027-01-01T00:00:00.000Z' }, asA),
      ];
      for (const res of forbidden) assertProblem(res, 403, 'forbidden');
      assert.equal((await allot.api('GET', '/v1/test-clock')).body.now, NOW, 'the clock did not move');
      assert.equal((await allot.api('GET', '/v1/plans/basic')).body.archived, false);
      assertProblem(await allot.api('GET', '/v1/plans/pro'), 404, 'plan_not_found');
    });

    await t.test('a shop key works on its own shop', async () => {
      assertStatus(await allot.api('PUT', '/v1/subscriptions/shopA/u1', { plan_id: 'basic' }, asA), 201);
      assertStatus(await allot.api('POST', '/v1/usage', { event_id: 'b-event', shop_id: 'shopA', user_id: 'u1', tokens: 3 }, asA), 200);
      assertStatus(await allot.api('GET', '/v1/subscriptions/shopA/u1/status', undefined, asA), 200);
    });
  });
}
