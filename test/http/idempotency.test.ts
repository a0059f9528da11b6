/**
 * `Idempotency-Key` on POST and PUT (SPEC §1): replays, conflicts,
 * validation failures not stored, keys scoped per shop; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, plans, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus } from '../support/problems.ts';

const NOW = '2026-01-31T12:00:00.000Z';

function withKey(key: string, apiKey?: string) {
  return { headers: { 'idempotency-key': key }, key: apiKey };
}

async function used(allot: Allot, shop: string, user: string): Promise<number> {
  return (await allot.api('GET', `/v1/subscriptions/${shop}/${user}`)).body.used_tokens;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: idempotency — replay, conflict, validation not stored`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic', 'pro']);

    await t.test('a repeat replays the first answer and runs nothing twice', async () => {
      const first = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' }, withKey('k-put'));
      assertStatus(first, 201);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const again = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' }, withKey('k-put'));
      assertStatus(again, 201);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(again.body, first.body);
      assert.match(again.headers.get('content-type') ?? '', /^application\/json/);

      const body = { event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 10 };
      const usage = await allot.api('POST', '/v1/usage', body, withKey('k-use'));
      const replay = await allot.api('POST', '/v1/usage', body, withKey('k-use'));
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(replay.body, usage.body);
      assert.equal(replay.body.duplicate, false, 'the first answer, not a new run');
      assert.equal(await used(allot, 's1', 'u1'), 10);
    });

    await t.test('the same key with another body → 409 idempotency_conflict, nothing runs', async () => {
      const res = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'pro' }, withKey('k-put'));
      assertProblem(res, 409, 'idempotency_conflict');
      assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.plan_id, 'basic');
      const path = await allot.api('PUT', '/v1/subscriptions/s1/u2', { plan_id: 'basic' }, withKey('k-put'));
      assertProblem(path, 409, 'idempotency_conflict');
      assertProblem(await allot.api('GET', '/v1/subscriptions/s1/u2'), 404, 'subscription_not_found');
    });

    await t.test('a 400 is not stored: the fixed retry with the same key succeeds', async () => {
      const bad = await allot.api('POST', '/v1/usage', { event_id: 'e2', shop_id: 's1', user_id: 'u1', tokens: -5 }, withKey('k-fix'));
      assertProblem(bad, 400, 'validation_error');
      const fixed = await allot.api('POST', '/v1/usage', { event_id: 'e2', shop_id: 's1', user_id: 'u1', tokens: 5 }, withKey('k-fix'));
      assertStatus(fixed, 200);
      assert.equal(fixed.headers.get('idempotent-replayed'), null);
      assert.equal(await used(allot, 's1', 'u1'), 15);

      const year = await allot.api('POST', '/v1/plans', { ...plans.basic, id: 'b2', allowance_interval: 'year' }, withKey('k-plan'));
      assertProblem(year, 400, 'validation_error');
      assertStatus(await allot.api('POST', '/v1/plans', { ...plans.basic, id: 'b2' }, withKey('k-plan')), 201);
    });

    await t.test('a final refusal replays identically', async () => {
      await allot.api('POST', '/v1/plans/pro/archive');
      const refused = await allot.api('PUT', '/v1/subscriptions/s1/u3', { plan_id: 'pro' }, withKey('k-arch'));
      assertProblem(refused, 422, 'plan_archived');
      const replay = await allot.api('PUT', '/v1/subscriptions/s1/u3', { plan_id: 'pro' }, withKey('k-arch'));
      assertProblem(replay, 422, 'plan_archived');
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(replay.body, refused.body);
    });

    await t.test('a refusal worth retrying is not stored: 429 then, after room is made, success', async () => {
      await allot.api('PUT', '/v1/subscriptions/s1/u4', { plan_id: 'basic' });
      await allot.api('POST', '/v1/usage', { event_id: 'fill', shop_id: 's1', user_id: 'u4', tokens: 100_000 });
      const body = { event_id: 'e9', shop_id: 's1', user_id: 'u4', tokens: 1, enforce: true };
      assertProblem(await allot.api('POST', '/v1/usage', body, withKey('k-429')), 429, 'quota_exceeded');
      await allot.api('PUT', '/v1/subscriptions/s1/u4', { plan_id: 'b2' });
      await allot.setClock('2026-02-28T12:00:00.000Z');
      const retry = await allot.api('POST', '/v1/usage', body, withKey('k-429'));
      assertStatus(retry, 200);
      assert.equal(retry.headers.get('idempotent-replayed'), null);
    });

    await t.test('a keyed event already recorded without the key is a duplicate, counted once', async () => {
      const body = { event_id: 'e-before', shop_id: 's1', user_id: 'u1', tokens: 3 };
      assertStatus(await allot.api('POST', '/v1/usage', body), 200);
      const before = await used(allot, 's1', 'u1');
      // The store refuses the second insert of the event; the unit runs again inside the key's transaction and finds it.
      const keyed = await allot.api('POST', '/v1/usage', body, withKey('k-before'));
      assertStatus(keyed, 200);
      assert.equal(keyed.body.duplicate, true);
      assert.equal(await used(allot, 's1', 'u1'), before);
      const replay = await allot.api('POST', '/v1/usage', body, withKey('k-before'));
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(replay.body, keyed.body);
    });

    await t.test('a sweep, which commits as it goes, replays its answer too', async () => {
      const first = await allot.api('POST', '/v1/renewals/run', undefined, withKey('k-sweep'));
      assertStatus(first, 200);
      const again = await allot.api('POST', '/v1/renewals/run', undefined, withKey('k-sweep'));
      assertStatus(again, 200);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(again.body, first.body);
    });

    await t.test('the key header is validated, and ignored on GET', async () => {
      const long = await allot.api('POST', '/v1/check', { shop_id: 's1', user_id: 'u1' }, withKey('k'.repeat(256)));
      assertProblem(long, 400, 'validation_error');
      const get = await allot.api('GET', '/v1/subscriptions/s1/u1', undefined, withKey('k-put'));
      assertStatus(get, 200);
      assert.equal(get.headers.get('idempotent-replayed'), null);
    });
  });

  test(`${dialect}: idempotency — keys are scoped per shop`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic', 'pro']);
    const keyA = await createShopKey(allot, 'shopA');
    const keyB = await createShopKey(allot, 'shopB');

    const a = await allot.api('PUT', '/v1/subscriptions/shopA/u1', { plan_id: 'basic' }, withKey('shared', keyA));
    assertStatus(a, 201);
    const b = await allot.api('PUT', '/v1/subscriptions/shopB/u1', { plan_id: 'pro' }, withKey('shared', keyB));
    assertStatus(b, 201);
    assert.equal(b.headers.get('idempotent-replayed'), null, 'shop A\'s key does not collide with shop B\'s');
    assert.equal(b.body.plan_id, 'pro');
    const probe = await allot.api('PUT', '/v1/subscriptions/shopA/u2', { plan_id: 'basic' }, withKey('only-a', keyA));
    assertStatus(probe, 201);
    const sameRequestB = await allot.api('PUT', '/v1/subscriptions/shopA/u2', { plan_id: 'basic' }, withKey('only-a', keyB));
    assert.equal(sameRequestB.status, 404, 'shop B cannot read shop A\'s stored answer');
    assert.equal(sameRequestB.headers.get('idempotent-replayed'), null);
    const replayA = await allot.api('PUT', '/v1/subscriptions/shopA/u1', { plan_id: 'basic' }, withKey('shared', keyA));
    assert.equal(replayA.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(replayA.body, a.body);
  });

  test(`${dialect}: idempotency — concurrent repeats run once`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' });
    const body = { event_id: 'once', shop_id: 's1', user_id: 'u1', tokens: 100 };
    const answers = await Promise.all(Array.from({ length: 12 }, () => allot.api('POST', '/v1/usage', body, withKey('k-race'))));
    const ran = answers.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === null);
    assert.equal(ran.length, 1, JSON.stringify(answers.map((r) => [r.status, r.body.code])));
    for (const r of answers) {
      if (r.status === 200) assert.deepEqual(r.body, ran[0]!.body);
      else assertProblem(r, 409, 'idempotency_in_flight');
    }
    assert.equal(await used(allot, 's1', 'u1'), 100);
  });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a key revoked while its request runs: the work that ran is answered and its Idempotency-Key settled`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    assertStatus(await allot.api('PUT', '/v1/subscriptions/s9/u1', { plan_id: 'basic' }), 201);
    const created = await allot.api('POST', '/v1/api-keys', { name: 'old', role: 'shop', shop_id: 's9' });
    assertStatus(created, 201);
    const { key: oldKey, id: oldKeyId } = created.body as { key: string; id: string };
    const newKey = await createShopKey(allot, 's9');

    // Revoke the key as soon as the request's transaction (its work and its Idempotency-Key) has committed, before it is answered.
    const db = allot.testDb.db;
    const transaction = db.transaction.bind(db);
    let revoked = false;
    db.transaction = (async (work: Parameters<typeof transaction>[0]) => {
      const result = await transaction(work);
      if (!revoked && (await db.one("SELECT 1 AS stored FROM usage_events WHERE event_id = 'e-rot'"))) {
        revoked = true;
        await db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ?', [Date.parse(NOW), oldKeyId]);
      }
      return result;
    }) as typeof db.transaction;
    const body = { event_id: 'e-rot', shop_id: 's9', user_id: 'u1', tokens: 7 };
    const first = await allot.api('POST', '/v1/usage', body, withKey('k-rotate', oldKey));
    db.transaction = transaction;
    assert.ok(revoked);
    assertStatus(first, 200);
    assert.equal(first.body.used_tokens, 7);

    const stored = await db.one<{ state: string }>("SELECT state FROM idempotency_keys WHERE key = 'k-rotate'");
    assert.equal(stored?.state, 'done', 'the claim was settled although the key was revoked meanwhile');
    const retry = await allot.api('POST', '/v1/usage', body, withKey('k-rotate', newKey));
    assertStatus(retry, 200);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(await used(allot, 's9', 'u1'), 7, 'the retry with the new key ran nothing again');
    assertStatus(await allot.api('POST', '/v1/usage', { ...body, event_id: 'e-after' }, { key: oldKey }), 401);
  });
}
