/** Plans (SPEC §3): create, read, list by cursor, archive; happy, error and security paths on both dialects. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, plans, seedPlans, startAllot, type ApiResponse } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

const NOW = '2026-01-31T12:00:00.000Z';

for (const dialect of DIALECTS) {
  test(`${dialect}: plans — happy paths`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);

    await t.test('create answers 201 with allowance_interval defaulting to month', async () => {
      const res = await allot.api('POST', '/v1/plans', plans.pro);
      assertStatus(res, 201);
      assert.deepEqual(res.body, {
        id: 'pro', display_name: 'Pro', allocated_tokens: 400_000, price_minor: 2999, currency: 'USD',
        billing_cycle: 'monthly', allowance_interval: 'month', tier: 2, archived: false, created_at: NOW,
      });
      const got = await allot.api('GET', '/v1/plans/pro');
      assertStatus(got, 200);
      assert.deepEqual(got.body, res.body);
    });

    await t.test('a yearly plan refills monthly by default and yearly when asked', async () => {
      const monthly = await allot.api('POST', '/v1/plans', plans.proYearly);
      assertStatus(monthly, 201);
      assert.equal(monthly.body.billing_cycle, 'yearly');
      assert.equal(monthly.body.allowance_interval, 'month');
      const yearly = await allot.api('POST', '/v1/plans', { ...plans.proYearly, id: 'pro-yearly-pool', allowance_interval: 'year' });
      assertStatus(yearly, 201);
      assert.equal(yearly.body.allowance_interval, 'year');
    });

    await t.test('archive marks the plan; it stays readable and listed', async () => {
      await seedPlans(allot, ['basic']);
      const res = await allot.api('POST', '/v1/plans/basic/archive');
      assertStatus(res, 200);
      assert.equal(res.body.archived, true);
      assert.equal((await allot.api('GET', '/v1/plans/basic')).body.archived, true);
      const again = await allot.api('POST', '/v1/plans/basic/archive');
      assertStatus(again, 200);
      const hidden = await allot.api('GET', '/v1/plans?include_archived=false&limit=100');
      assert.ok(!hidden.body.data.some((p: { id: string }) => p.id === 'basic'));
    });

    await t.test('an archived plan takes no new subscriptions (422 plan_archived), nothing is created', async () => {
      const res = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' });
      assertProblem(res, 422, 'plan_archived');
      assertProblem(await allot.api('GET', '/v1/subscriptions/s1/u1'), 404, 'subscription_not_found');
    });

    await t.test('list pages by cursor through every plan once, in id order', async () => {
      for (let i = 0; i < 5; i++) {
        assertStatus(await allot.api('POST', '/v1/plans', { ...plans.basic, id: `p${i}`, tier: i }), 201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: ApiResponse = await allot.api('GET', `/v1/plans?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        assertStatus(res, 200);
        assert.ok(res.body.data.length <= 3);
        seen.push(...res.body.data.map((p: { id: string }) => p.id));
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor);
      assert.deepEqual(seen, ['basic', 'p0', 'p1', 'p2', 'p3', 'p4', 'pro', 'pro-yearly', 'pro-yearly-pool']);
      assert.equal(pages, 3);
      const defaults = await allot.api('GET', '/v1/plans');
      assert.equal(defaults.body.data.length, 9);
      assert.equal(defaults.body.next_cursor, null);
    });
  });

  test(`${dialect}: plans — errors`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['pro']);

    await t.test('creating an existing id → 409 plan_exists and the plan is unchanged', async () => {
      const res = await allot.api('POST', '/v1/plans', { ...plans.pro, allocated_tokens: 1 });
      assertProblem(res, 409, 'plan_exists');
      assert.equal((await allot.api('GET', '/v1/plans/pro')).body.allocated_tokens, 400_000);
    });

    await t.test('allowance_interval year needs billing_cycle yearly (400)', async () => {
      const res = await allot.api('POST', '/v1/plans', { ...plans.basic, id: 'bad', allowance_interval: 'year' });
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), ['allowance_interval']);
      assertProblem(await allot.api('GET', '/v1/plans/bad'), 404, 'plan_not_found');
    });

    await t.test('bad fields are each named', async () => {
      const res = await allot.api('POST', '/v1/plans', {
        id: 'has space', display_name: '', allocated_tokens: -1, price_minor: 1.5, currency: 'usd', billing_cycle: 'weekly', tier: 1, color: 'red',
      });
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), ['allocated_tokens', 'billing_cycle', 'color', 'currency', 'display_name', 'id', 'price_minor']);
    });

    await t.test('a currency must be one ISO 4217 has', async () => {
      const plan = { id: 'fake-money', display_name: 'Fake', allocated_tokens: 1, price_minor: 1, billing_cycle: 'monthly', tier: 1 };
      for (const currency of ['XYZ', 'ABC']) {
        const res = await allot.api('POST', '/v1/plans', { ...plan, currency });
        assertProblem(res, 400, 'validation_error');
        assert.deepEqual(errorPaths(res), ['currency']);
      }
      assertProblem(await allot.api('GET', '/v1/plans/fake-money'), 404, 'plan_not_found');
      for (const currency of ['JPY', 'BHD', 'EUR', 'VED']) {
        assert.equal((await allot.api('POST', '/v1/plans', { ...plan, id: `plan-${currency}`, currency })).status, 201);
      }
    });

    await t.test('unknown plan → 404 plan_not_found, for read and archive', async () => {
      assertProblem(await allot.api('GET', '/v1/plans/nope'), 404, 'plan_not_found');
      assertProblem(await allot.api('POST', '/v1/plans/nope/archive'), 404, 'plan_not_found');
    });

    await t.test('a subscription to an unknown plan → 404 plan_not_found', async () => {
      assertProblem(await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'nope' }), 404, 'plan_not_found');
    });

    await t.test('a cursor the list never gave out → 400', async () => {
      const res = await allot.api('GET', '/v1/plans?cursor=not-a-cursor');
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), ['cursor']);
      assertProblem(await allot.api('GET', '/v1/plans?limit=0'), 400, 'validation_error');
      assertProblem(await allot.api('GET', '/v1/plans?limit=101'), 400, 'validation_error');
    });
  });

  test(`${dialect}: plans — security`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['pro']);
    const shopKey = await createShopKey(allot, 'shopA');

    await t.test('a shop key reads plans', async () => {
      assertStatus(await allot.api('GET', '/v1/plans', undefined, { key: shopKey }), 200);
      assertStatus(await allot.api('GET', '/v1/plans/pro', undefined, { key: shopKey }), 200);
    });

    await t.test('a shop key may not create or archive plans (403 forbidden), nothing changes', async () => {
      assertProblem(await allot.api('POST', '/v1/plans', { ...plans.basic }, { key: shopKey }), 403, 'forbidden');
      assertProblem(await allot.api('POST', '/v1/plans/pro/archive', undefined, { key: shopKey }), 403, 'forbidden');
      assertProblem(await allot.api('GET', '/v1/plans/basic'), 404, 'plan_not_found');
      assert.equal((await allot.api('GET', '/v1/plans/pro')).body.archived, false);
    });

    await t.test('no key → 401', async () => {
      assertProblem(await allot.api('GET', '/v1/plans', undefined, { key: null }), 401, 'unauthorized');
      assertProblem(await allot.api('POST', '/v1/plans', plans.basic, { key: null }), 401, 'unauthorized');
    });
  });
}
