/**
 * Race-freedom under concurrent requests (SPEC §4, §6), on both dialects:
 * the allowance is never overspent, one live subscription per pair, and an
 * event counts once however many copies arrive together.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus } from '../support/problems.ts';

const NOW = '2026-01-31T12:00:00.000Z';

async function subscription(allot: Allot, user: string) {
  return (await allot.api('GET', `/v1/subscriptions/s1/${user}`)).body;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: concurrency`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    await seedPlans(allot, ['basic', 'pro']);

    await t.test('50 concurrent enforced requests of 3000 on 100000: exactly 33 accepted', async () => {
      assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' }), 201);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          allot.api('POST', '/v1/usage', { event_id: `q${i}`, shop_id: 's1', user_id: 'u1', tokens: 3000, enforce: true }),
        ),
      );
      const accepted = answers.filter((r) => r.status === 200);
      assert.equal(accepted.length, 33);
      for (const r of answers) if (r.status !== 200) assertProblem(r, 429, 'quota_exceeded');
      assert.deepEqual(accepted.map((r) => r.body.used_tokens).sort((a, b) => a - b), Array.from({ length: 33 }, (_, i) => (i + 1) * 3000));
      const sub = await subscription(allot, 'u1');
      assert.equal(sub.used_tokens, 99_000);
      const events = await allot.api('GET', '/v1/usage?shop_id=s1&user_id=u1&limit=100');
      assert.equal(events.body.data.length, 33);
    });

    await t.test('20 concurrent PUTs for a new pair create exactly one live subscription', async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => allot.api('PUT', '/v1/subscriptions/s1/u2', { plan_id: 'basic' })),
      );
      const created = answers.filter((r) => r.status === 201);
      assert.equal(created.length, 1, JSON.stringify(answers.map((r) => r.status)));
      for (const r of answers) {
        if (r.status === 201) continue;
        assertStatus(r, 200);
        assert.equal(r.body.action_performed, 'none');
        assert.equal(r.body.id, created[0]!.body.id);
      }
      const rows = await allot.testDb.db.all('SELECT id FROM subscriptions WHERE shop_id = ? AND user_id = ?', ['s1', 'u2']);
      assert.equal(rows.length, 1);
    });

    await t.test('30 concurrent copies of one event count once', async () => {
      for (const enforce of [false, true]) {
        const body = { event_id: `dup-${enforce}`, shop_id: 's1', user_id: 'u2', tokens: 700, enforce };
        const answers = await Promise.all(Array.from({ length: 30 }, () => allot.api('POST', '/v1/usage', body)));
        for (const r of answers) assertStatus(r, 200);
        assert.equal(answers.filter((r) => r.body.duplicate === false).length, 1);
        for (const r of answers) assert.deepEqual({ ...r.body, duplicate: false }, answers.find((a) => !a.body.duplicate)!.body);
      }
      assert.equal((await subscription(allot, 'u2')).used_tokens, 1_400);
    });

    await t.test('concurrent holds and enforced usage never exceed the allowance', async () => {
      assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u3', { plan_id: 'basic' }), 201);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0
            ? allot.api('POST', '/v1/reservations', { shop_id: 's1', user_id: 'u3', tokens: 3000 })
            : allot.api('POST', '/v1/usage', { event_id: `h${i}`, shop_id: 's1', user_id: 'u3', tokens: 3000, enforce: true }),
        ),
      );
      const holds = answers.filter((r, i) => i % 2 === 0 && r.status === 201).length;
      const uses = answers.filter((r, i) => i % 2 === 1 && r.status === 200).length;
      assert.equal(holds + uses, 33);
      for (const r of answers) if (r.status >= 400) assertProblem(r, 429, 'quota_exceeded');
      const sub = await subscription(allot, 'u3');
      assert.equal(sub.reserved_tokens, holds * 3000);
      assert.equal(sub.used_tokens, uses * 3000);
      assert.equal(sub.remaining_tokens, 1_000);
    });

    await t.test('concurrent commits of every hold free exactly what was held', async () => {
      assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u4', { plan_id: 'basic' }), 201);
      const held = await Promise.all(
        Array.from({ length: 10 }, () => allot.api('POST', '/v1/reservations', { shop_id: 's1', user_id: 'u4', tokens: 5000 })),
      );
      const ids = held.map((r) => r.body.id as string);
      const settled = await Promise.all(
        ids.flatMap((id, i) => [
          allot.api('POST', `/v1/reservations/${id}/commit`, { tokens: 4000 + i }),
          allot.api('POST', `/v1/reservations/${id}/commit`, { tokens: 4000 + i }),
          allot.api('POST', `/v1/reservations/${id}/release`, {}),
        ]),
      );
      const committed = new Set<string>();
      const released = new Set<string>();
      settled.forEach((r, k) => {
        const id = ids[Math.floor(k / 3)]!;
        if (k % 3 === 2) {
          if (r.status === 200) released.add(id);
          else assertProblem(r, 409, 'reservation_not_active');
        } else if (r.status === 200) committed.add(id);
        else assertProblem(r, 409, 'reservation_not_active');
      });
      for (const id of ids) assert.ok(committed.has(id) !== released.has(id), `${id} settled exactly one way`);
      const expected = ids.reduce((sum, id, i) => sum + (committed.has(id) ? 4000 + i : 0), 0);
      const sub = await subscription(allot, 'u4');
      assert.equal(sub.reserved_tokens, 0);
      assert.equal(sub.used_tokens, expected);
    });
  });
}
