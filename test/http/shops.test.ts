/** A shop's overview: counts by plan and status, tokens per day from the rollups, live subscriptions ranked by risk and usage; on both dialects. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus } from '../support/problems.ts';

async function ok(allot: Allot, method: string, path: string, body?: unknown): Promise<any> {
  const res = await allot.api(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

let events = 0;
async function use(allot: Allot, user: string, tokens: number): Promise<void> {
  await ok(allot, 'POST', '/v1/usage', { event_id: `e-${++events}`, shop_id: 'acme', user_id: user, tokens });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a shop's overview`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    for (const user of ['alice', 'carol', 'dave', 'eve', 'gone']) await ok(allot, 'PUT', `/v1/subscriptions/acme/${user}`, { plan_id: 'basic' });
    await ok(allot, 'PUT', '/v1/subscriptions/acme/bob', { plan_id: 'pro' });
    await ok(allot, 'PUT', '/v1/subscriptions/other/zed', { plan_id: 'basic' });
    await ok(allot, 'POST', '/v1/subscriptions/acme/gone/cancel', { at_period_end: false });
    await use(allot, 'alice', 30_000);
    await use(allot, 'bob', 100_000);
    await allot.setClock('2026-03-05T12:00:00.000Z');
    await use(allot, 'alice', 50_000);
    await use(allot, 'carol', 40_000);
    await use(allot, 'dave', 50_000);
    await use(allot, 'eve', 30_000);
    await ok(allot, 'POST', '/v1/usage', { event_id: 'z-1', shop_id: 'other', user_id: 'zed', tokens: 99_000 });
    // A day into its period, 20,000 of 100,000 runs out at this pace: at risk, ranked before higher shares that are not.
    await allot.setClock('2026-03-10T00:00:00.000Z');
    await ok(allot, 'PUT', '/v1/subscriptions/acme/fresh', { plan_id: 'basic' });
    await use(allot, 'fresh', 20_000);
    // Ten days into a 31-day period: 40,000 of 100,000 runs out at this pace, 30,000 does not.
    await allot.setClock('2026-03-11T00:00:00.000Z');

    const res = await allot.api('GET', '/v1/shops/acme/overview?from=2026-02-28&to=2026-03-06');
    assertStatus(res, 200);
    const body = res.body;
    assert.equal(body.shop_id, 'acme');
    assert.equal(body.as_of, '2026-03-11T00:00:00.000Z');
    assert.deepEqual(body.counts, [
      { plan_id: 'basic', status: 'active', subscriptions: 5 },
      { plan_id: 'basic', status: 'canceled', subscriptions: 1 },
      { plan_id: 'pro', status: 'active', subscriptions: 1 },
    ]);
    assert.deepEqual(body.daily.data.map((d: any) => [d.date, d.tokens, d.queries]), [
      ['2026-02-28', 0, 0], ['2026-03-01', 130_000, 2], ['2026-03-02', 0, 0], ['2026-03-03', 0, 0],
      ['2026-03-04', 0, 0], ['2026-03-05', 170_000, 4], ['2026-03-06', 0, 0],
    ]);
    assert.deepEqual(
      body.subscriptions.data.map((s: any) => [s.user_id, s.usage_percentage, s.at_risk, s.past_75, s.runs_out_in_period]),
      [
        ['alice', 80, true, true, true],
        ['dave', 50, true, false, true],
        ['carol', 40, true, false, true],
        ['fresh', 20, true, false, true],
        ['eve', 30, false, false, false],
        ['bob', 25, false, false, false],
      ],
    );
    assert.equal(body.subscriptions.next_cursor, null);

    // The default range is the last 30 days up to today.
    const plain = await allot.api('GET', '/v1/shops/acme/overview');
    assert.equal(plain.body.daily.from, '2026-02-10');
    assert.equal(plain.body.daily.to, '2026-03-11');
    assert.equal(plain.body.daily.data.length, 30);

    // Pages follow the ranking.
    const first = await allot.api('GET', '/v1/shops/acme/overview?limit=2');
    assert.deepEqual(first.body.subscriptions.data.map((s: any) => s.user_id), ['alice', 'dave']);
    const second = await allot.api('GET', `/v1/shops/acme/overview?limit=2&cursor=${first.body.subscriptions.next_cursor}`);
    assert.deepEqual(second.body.subscriptions.data.map((s: any) => s.user_id), ['carol', 'fresh']);
    const third = await allot.api('GET', `/v1/shops/acme/overview?limit=3&cursor=${second.body.subscriptions.next_cursor}`);
    assert.deepEqual(third.body.subscriptions.data.map((s: any) => s.user_id), ['eve', 'bob']);
    assert.equal(third.body.subscriptions.next_cursor, null);

    // A shop key sees its own shop only.
    const key = await createShopKey(allot, 'acme');
    const own = await allot.api('GET', '/v1/shops/acme/overview', undefined, { key });
    assertStatus(own, 200);
    assert.equal(own.body.subscriptions.data.length, 6);
    assertProblem(await allot.api('GET', '/v1/shops/other/overview', undefined, { key }), 404, 'not_found');

    // Bad input is a 400 that names the field.
    assertProblem(await allot.api('GET', '/v1/shops/acme/overview?from=2026-03-05&to=2026-03-01'), 400, 'validation_error');
    assertProblem(await allot.api('GET', '/v1/shops/acme/overview?from=2025-01-01&to=2026-03-01'), 400, 'validation_error');
    assertProblem(await allot.api('GET', '/v1/shops/acme/overview?cursor=bogus'), 400, 'validation_error');
    const subsCursor = (await allot.api('GET', '/v1/subscriptions?limit=1')).body.next_cursor;
    assertProblem(await allot.api('GET', `/v1/shops/acme/overview?cursor=${subsCursor}`), 400, 'validation_error');
  });

  test(`${dialect}: the overview of a shop with 10,000 subscriptions ranks them in the database`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    const seedRow = await ok(allot, 'PUT', '/v1/subscriptions/big/seed', { plan_id: 'basic' });
    // 10,000 copies of the seed's row, user-i having used (i * 7919) mod 100,000 tokens.
    await allot.testDb.db.run(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
       INSERT INTO subscriptions (id, shop_id, user_id, plan_id, plan_display_name, status, billing_cycle, allowance_interval,
         allocated_tokens, price_minor, currency, started_at, period_anchor, period_index, current_period_start, current_period_end,
         billing_anchor, plan_started_at, cancel_at_period_end, used_tokens, reserved_tokens, queries, created_at, updated_at)
       SELECT 'sub_big_' || i, shop_id, 'user-' || i, plan_id, plan_display_name, status, billing_cycle, allowance_interval,
         allocated_tokens, price_minor, currency, started_at, period_anchor, period_index, current_period_start, current_period_end,
         billing_anchor, plan_started_at, cancel_at_period_end, (i * 7919) % 100000, 0, 1, created_at, updated_at
       FROM n CROSS JOIN subscriptions WHERE subscriptions.id = ?`,
      [seedRow.id],
    );
    await ok(allot, 'POST', '/v1/subscriptions/big/seed/cancel', { at_period_end: false });
    await allot.setClock('2026-03-21T00:00:00.000Z');
    const res = await allot.api('GET', '/v1/shops/big/overview?limit=100');
    assertStatus(res, 200);
    assert.deepEqual(res.body.counts, [
      { plan_id: 'basic', status: 'active', subscriptions: 10_000 },
      { plan_id: 'basic', status: 'canceled', subscriptions: 1 },
    ]);
    const used = Array.from({ length: 10_000 }, (_, k) => ((k + 1) * 7919) % 100_000).sort((a, b) => b - a);
    assert.deepEqual(res.body.subscriptions.data.map((s: any) => s.used_tokens), used.slice(0, 100));
    // 20 of 31 days gone: at this pace 64,517 tokens or more run out before the end; all of the first page are at risk.
    assert.ok(res.body.subscriptions.data.every((s: any) => s.at_risk));
  });
}
