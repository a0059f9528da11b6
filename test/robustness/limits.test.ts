/**
 * Limits on abuse (SPEC §1, §6): request bodies at most 64 KiB, lists of
 * 1–100 items, hold TTLs of 1–3600 s and a cap on active holds per
 * subscription. Each refusal is a clear problem document and changes nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { BODY_LIMIT } from '../../src/http/server.ts';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot, type Allot, type ApiResponse } from '../support/harness.ts';
import { assertVerified, fingerprint } from './support.ts';

function assertProblem(res: ApiResponse, status: number, code: string, path?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(res.body.code, code);
  assert.equal(res.body.status, status);
  assert.ok(res.body.detail.length > 10, 'the detail says what went wrong');
  if (path !== undefined) assert.ok(res.body.errors.some((e: { path: string }) => e.path === path), JSON.stringify(res.body.errors));
}

async function refusedWithoutChange(allot: Allot, attempt: () => Promise<void>): Promise<void> {
  const before = await fingerprint(allot.testDb.db);
  await attempt();
  assert.deepEqual(await fingerprint(allot.testDb.db), before);
}

for (const dialect of DIALECTS) {
  test(`${dialect}: bodies above 64 KiB are refused with 413; up to it they are read`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    const json = JSON.stringify({ event_id: 'big', shop_id: 's', user_id: 'u', tokens: 5 });
    const padded = (size: number) => json.slice(0, -1) + ' '.repeat(size - json.length) + '}';
    await refusedWithoutChange(allot, async () => {
      assertProblem(await allot.api('POST', '/v1/usage', undefined, { raw: padded(BODY_LIMIT + 1) }), 413, 'payload_too_large');
      assertProblem(await allot.api('POST', '/v1/usage', undefined, { raw: padded(4 * BODY_LIMIT) }), 413, 'payload_too_large');
    });
    const atLimit = await allot.api('POST', '/v1/usage', undefined, { raw: padded(BODY_LIMIT) });
    assert.equal(atLimit.status, 200, JSON.stringify(atLimit.body));
    assert.equal(BODY_LIMIT, 64 * 1024);
    assert.deepEqual((await allot.api('GET', '/healthz', undefined, { key: null })).body, { status: 'ok' });
  });

  test(`${dialect}: lists answer 20 by default, at most 100, page on by cursor, and refuse other limits`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    await Promise.all(Array.from({ length: 105 }, (_, i) =>
      allot.api('POST', '/v1/usage', { event_id: `e${String(i).padStart(3, '0')}`, shop_id: 's', user_id: 'u', tokens: 1 })));
    const first = await allot.api('GET', '/v1/usage?shop_id=s');
    assert.equal(first.body.data.length, 20);
    assert.equal(typeof first.body.next_cursor, 'string');
    const full = await allot.api('GET', '/v1/usage?shop_id=s&limit=100');
    assert.equal(full.body.data.length, 100);
    const rest = await allot.api('GET', `/v1/usage?shop_id=s&limit=100&cursor=${full.body.next_cursor}`);
    assert.equal(rest.body.data.length, 5);
    assert.equal(rest.body.next_cursor, null);
    assert.equal(new Set([...full.body.data, ...rest.body.data].map((e: { event_id: string }) => e.event_id)).size, 105);
    for (const path of ['/v1/usage', '/v1/subscriptions', '/v1/plans', '/v1/api-keys', '/v1/subscriptions/s/u/periods']) {
      for (const limit of ['0', '101', '-1', '2.5', 'many', '1000000']) {
        assertProblem(await allot.api('GET', `${path}?limit=${limit}`), 400, 'validation_error', 'limit');
      }
      assertProblem(await allot.api('GET', `${path}?cursor=${'A'.repeat(513)}`), 400, 'validation_error', 'cursor');
      assertProblem(await allot.api('GET', `${path}?cursor=bm90IG91cnM`), 400, 'validation_error', 'cursor');
    }
  });

  test(`${dialect}: hold TTLs are 1–3600 s (300 by default) and a subscription holds at most ALLOT_MAX_ACTIVE_HOLDS at once`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z', rules: { maxActiveHolds: 3 } });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    const hold = (body: Record<string, unknown>) => allot.api('POST', '/v1/reservations', { shop_id: 's', user_id: 'u', tokens: 10, ...body });

    await refusedWithoutChange(allot, async () => {
      for (const ttl of [0, -1, 3601, 1.5, 86_400, '60', null]) assertProblem(await hold({ ttl_seconds: ttl }), 400, 'validation_error', 'ttl_seconds');
    });
    const byDefault = await hold({ reservation_id: 'd' });
    assert.equal(byDefault.status, 201);
    assert.equal(byDefault.body.expires_at, '2026-03-01T00:05:00.000Z');
    const longest = await hold({ reservation_id: 'l', ttl_seconds: 3600 });
    assert.equal(longest.body.expires_at, '2026-03-01T01:00:00.000Z');
    const shortest = await hold({ reservation_id: 's', ttl_seconds: 1 });
    assert.equal(shortest.body.expires_at, '2026-03-01T00:00:01.000Z');

    await refusedWithoutChange(allot, async () => {
      const fourth = await hold({ reservation_id: 'x' });
      assertProblem(fourth, 422, 'too_many_reservations');
      assert.match(fourth.body.detail, /at most 3 active reservations/);
    });
    // Concurrent attempts cannot slip past the cap either.
    assert.equal((await allot.api('POST', '/v1/reservations/d/release', {})).status, 200);
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => hold({ reservation_id: `r${i}` })));
    assert.equal(racing.filter((r) => r.status === 201).length, 1, JSON.stringify(racing.map((r) => r.status)));
    for (const r of racing.filter((x) => x.status !== 201)) assertProblem(r, 422, 'too_many_reservations');
    const active = async (user: string) => Number((await allot.testDb.db.one<{ n: number }>(
      `SELECT COUNT(*) AS n FROM reservations WHERE status = 'active' AND user_id = ?`, [user]))!.n);
    assert.equal(await active('u'), 3);
    for (let k = 0; k < 4; k++) {
      assert.equal((await allot.api('PUT', `/v1/subscriptions/s/fresh${k}`, { plan_id: 'basic' })).status, 201);
      const burst = await Promise.all(Array.from({ length: 8 }, () => allot.api('POST', '/v1/reservations', { shop_id: 's', user_id: `fresh${k}`, tokens: 10 })));
      assert.deepEqual(burst.map((r) => r.status).sort(), [201, 201, 201, 422, 422, 422, 422, 422], 'a burst of holds stops at the cap');
      assert.equal(await active(`fresh${k}`), 3);
    }

    // An expired hold frees its place.
    await allot.setClock('2026-03-01T00:00:02.000Z');
    assert.equal((await hold({ reservation_id: 'after-expiry' })).status, 201);
    await assertVerified(allot.testDb.db);
  });

  test(`${dialect}: a period counts at most 10^15 tokens, recorded or committed, and the next period starts from zero`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    const record = (id: string, tokens: number) => allot.api('POST', '/v1/usage', { event_id: id, shop_id: 's', user_id: 'u', tokens });
    const hold = await allot.api('POST', '/v1/reservations', { shop_id: 's', user_id: 'u', tokens: 1, reservation_id: 'h' });
    assert.equal(hold.status, 201);
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => record(`max-${batch}-${i}`, 1e12 - (batch === 0 && i === 0 ? 1 : 0))));
      assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
    }
    // 10^15 - 1 used and 1 held: the counters are full.
    await refusedWithoutChange(allot, async () => {
      const over = await record('one-more', 1);
      assertProblem(over, 429, 'quota_exceeded');
      assert.match(over.body.detail, /10{15}|1000000000000000/);
      assertProblem(await allot.api('POST', '/v1/reservations/h/commit', { tokens: 2 }), 429, 'quota_exceeded');
    });
    const committed = await allot.api('POST', '/v1/reservations/h/commit', { tokens: 1 });
    assert.equal(committed.status, 200, JSON.stringify(committed.body));
    assert.equal(committed.body.used_tokens, 1e15);
    const status = await allot.api('GET', '/v1/subscriptions/s/u/status');
    assert.equal(status.body.used_tokens, 1e15);

    await allot.setClock('2026-04-01T00:00:00.000Z');
    const next = await record('next-period', 7);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(next.body.used_tokens, 7);
    const history = await allot.api('GET', '/v1/subscriptions/s/u/periods');
    assert.equal(history.body.data[0].used_tokens, 1e15);
    await assertVerified(allot.testDb.db);
  });

  test(`${dialect}: a rollover whose guarded write cannot win gives up after a bounded number of attempts`, { timeout: 60_000 }, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
    // A count JavaScript cannot hold exactly (2^53 + 1), as only a damaged database could have it:
    // the guard compares with the value read back, which never matches.
    await allot.testDb.db.run(`UPDATE subscriptions SET used_tokens = 9007199254740993`, []);
    assert.equal((await allot.api('PUT', '/v1/subscriptions/s/healthy', { plan_id: 'basic' })).status, 201);
    await allot.setClock('2026-04-01T00:00:00.000Z');
    const stuck = await allot.api('GET', '/v1/subscriptions/s/u/status');
    assert.equal(stuck.status, 500, JSON.stringify(stuck.body));
    assert.equal(stuck.body.code, 'internal_error');
    // One stuck subscription does not stop the sweep, nor the shop's list, for the others.
    const sweep = await allot.api('POST', '/v1/renewals/run', {});
    assert.equal(sweep.status, 200, JSON.stringify(sweep.body));
    assert.deepEqual([sweep.body.subscriptions_rolled, sweep.body.subscriptions_failed], [1, 1]);
    const list = await allot.api('GET', '/v1/subscriptions?shop_id=s');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    await allot.testDb.db.run(`UPDATE subscriptions SET used_tokens = 5 WHERE user_id = 'u'`, []);
    const rolled = await allot.api('GET', '/v1/subscriptions/s/u/status');
    assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
    assert.equal(rolled.body.used_tokens, 0);
  });
}

test('ALLOT_MAX_ACTIVE_HOLDS is read once and must be a positive integer', () => {
  assert.equal(loadConfig({}).ALLOT_MAX_ACTIVE_HOLDS, 1000);
  assert.equal(loadConfig({ ALLOT_MAX_ACTIVE_HOLDS: '5' }).ALLOT_MAX_ACTIVE_HOLDS, 5);
  for (const bad of ['0', '-3', '2.5', 'lots']) {
    assert.throws(() => loadConfig({ ALLOT_MAX_ACTIVE_HOLDS: bad }), /ALLOT_MAX_ACTIVE_HOLDS/);
  }
});
