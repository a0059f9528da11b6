/**
 * Usage metering and the quota check (SPEC §6): recorded or enforced,
 * exactly once per (shop, event_id), listed for audit; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, seedPlans, startAllot, type Allot, type ApiResponse } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';
import { usageContentHash } from '../../src/service/usage.ts';

const ANCHOR = '2026-01-31T12:00:00.000Z';

async function start(dialect: (typeof DIALECTS)[number], t: { after(fn: () => Promise<void>): void }) {
  const allot = await startAllot(dialect, { clock: ANCHOR });
  t.after(allot.close);
  await seedPlans(allot, ['basic', 'pro']);
  return allot;
}

async function subscribe(allot: Allot, shop: string, user: string, plan = 'basic'): Promise<string> {
  const res = await allot.api('PUT', `/v1/subscriptions/${shop}/${user}`, { plan_id: plan });
  assertStatus(res, 201);
  return res.body.id;
}

function usage(allot: Allot, body: Record<string, unknown>, key?: string) {
  return allot.api('POST', '/v1/usage', { shop_id: 's1', user_id: 'u1', ...body }, { key });
}

async function used(allot: Allot, shop = 's1', user = 'u1'): Promise<number> {
  return (await allot.api('GET', `/v1/subscriptions/${shop}/${user}`)).body.used_tokens;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: usage — recorded, enforced, counted once`, async (t) => {
    const allot = await start(dialect, t);
    const subId = await subscribe(allot, 's1', 'u1');

    await t.test('recorded usage answers the counters', async () => {
      const res = await usage(allot, { event_id: 'e1', input_tokens: 60_000, output_tokens: 30_000, model: 'gpt-x' });
      assertStatus(res, 200);
      assert.deepEqual(res.body, {
        event_id: 'e1', subscription_id: subId, tokens: 90_000, used_tokens: 90_000, reserved_tokens: 0, remaining_tokens: 10_000,
        allocated_tokens: 100_000, usage_percentage: 90, over_limit: false, duplicate: false,
      });
      const stored = await allot.api('GET', '/v1/usage/e1?shop_id=s1');
      assertStatus(stored, 200);
      assert.deepEqual(stored.body, {
        event_id: 'e1', shop_id: 's1', user_id: 'u1', subscription_id: subId, tokens: 90_000, input_tokens: 60_000, output_tokens: 30_000,
        model: 'gpt-x', enforce: false, reservation_id: null, day: '2026-01-31', created_at: ANCHOR,
      });
    });

    await t.test('without enforce, usage over the limit is recorded and flagged', async () => {
      const res = await usage(allot, { event_id: 'e2', tokens: 20_000 });
      assertStatus(res, 200);
      assert.equal(res.body.used_tokens, 110_000);
      assert.equal(res.body.remaining_tokens, 0);
      assert.equal(res.body.usage_percentage, 110);
      assert.equal(res.body.over_limit, true);
    });

    await t.test('enforced usage over the limit → 429 with Retry-After, nothing stored', async () => {
      await allot.setClock('2026-02-10T00:00:00.000Z');
      const res = await usage(allot, { event_id: 'e3', tokens: 1, enforce: true });
      assertProblem(res, 429, 'quota_exceeded');
      assert.equal(res.body.detail, 'No tokens remain in this period (1 asked).');
      assert.equal(res.body.remaining_tokens, 0);
      const toPeriodEnd = (Date.parse('2026-02-28T12:00:00.000Z') - Date.parse('2026-02-10T00:00:00.000Z')) / 1000;
      assert.equal(res.headers.get('retry-after'), String(toPeriodEnd));
      assert.equal(res.body.retry_after_seconds, toPeriodEnd);
      assertProblem(await allot.api('GET', '/v1/usage/e3?shop_id=s1'), 404, 'not_found');
      assert.equal(await used(allot), 110_000);
      const retried = await usage(allot, { event_id: 'e3', tokens: 1 });
      assertStatus(retried, 200);
      assert.equal(retried.body.duplicate, false, 'a refused event id is free to use again');
    });

    await t.test('a duplicate answers the first result; other content → 409', async () => {
      const first = await usage(allot, { event_id: 'e4', tokens: 5 });
      const again = await usage(allot, { event_id: 'e4', tokens: 5 });
      assertStatus(again, 200);
      assert.deepEqual(again.body, { ...first.body, duplicate: true });
      assert.equal(await used(allot), 110_006);
      assertProblem(await usage(allot, { event_id: 'e4', tokens: 6 }), 409, 'idempotency_conflict');
      assertProblem(await usage(allot, { event_id: 'e4', tokens: 5, model: 'm' }), 409, 'idempotency_conflict');
      assertProblem(await usage(allot, { event_id: 'e4', tokens: 5, enforce: true }), 409, 'idempotency_conflict');
      assert.equal(await used(allot), 110_006);
      // tokens is input + output: the same total given either way is the same event.
      const split = await usage(allot, { event_id: 'e5', input_tokens: 3, output_tokens: 4 });
      assert.equal(split.body.tokens, 7);
      assertProblem(await usage(allot, { event_id: 'e5', tokens: 7 }), 409, 'idempotency_conflict');
      assertStatus(await usage(allot, { event_id: 'e5', input_tokens: 3, output_tokens: 4 }), 200);
      assertProblem(await usage(allot, { event_id: 'e5', input_tokens: 4, output_tokens: 3 }), 409, 'idempotency_conflict');
      await subscribe(allot, 's1', 'u2');
      assertProblem(await usage(allot, { event_id: 'e5', user_id: 'u2', input_tokens: 3, output_tokens: 4 }), 409, 'idempotency_conflict');
      assertStatus(await usage(allot, { event_id: 'e6', output_tokens: 7 }), 200);
      assertProblem(await usage(allot, { event_id: 'e6', input_tokens: 0, output_tokens: 7 }), 409, 'idempotency_conflict');
      assert.equal(await used(allot), 110_020);
    });
  });

  test(`${dialect}: an event stored with a content hash and its whole answer (the earlier format) replays and conflicts as before`, async (t) => {
    const allot = await start(dialect, t);
    const subId = await subscribe(allot, 's1', 'u1');
    const answer = {
      event_id: 'old-1', subscription_id: subId, tokens: 9, used_tokens: 9, reserved_tokens: 0, remaining_tokens: 99_991,
      allocated_tokens: 100_000, usage_percentage: 0.01, over_limit: false, duplicate: false,
    };
    const hash = usageContentHash({ event_id: 'old-1', shop_id: 's1', user_id: 'u1', tokens: 9, model: 'm' }, 9, false);
    await allot.testDb.db.run(
      `INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, model, enforce, period_start, day, created_at, request_hash, result)
       VALUES ('s1', 'old-1', ?, 'u1', 9, 'm', 0, ?, '2026-01-31', ?, ?, ?)`,
      [subId, Date.parse(ANCHOR), Date.parse(ANCHOR), hash, JSON.stringify(answer)],
    );
    const again = await usage(allot, { event_id: 'old-1', tokens: 9, model: 'm' });
    assertStatus(again, 200);
    assert.deepEqual(again.body, { ...answer, duplicate: true });
    assertProblem(await usage(allot, { event_id: 'old-1', tokens: 9 }), 409, 'idempotency_conflict');
    assertProblem(await usage(allot, { event_id: 'old-1', tokens: 9, model: 'm', enforce: true }), 409, 'idempotency_conflict');
  });

  test(`${dialect}: usage — enforce at the exact limit; suspended; no subscription`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    const exact = await usage(allot, { event_id: 'x1', tokens: 100_000, enforce: true });
    assertStatus(exact, 200);
    assert.equal(exact.body.remaining_tokens, 0);
    assert.equal(exact.body.over_limit, false);
    const zero = await usage(allot, { event_id: 'x2', tokens: 0, enforce: true });
    assertStatus(zero, 200);

    await subscribe(allot, 's1', 'u2');
    assertStatus(await allot.api('POST', '/v1/subscriptions/s1/u2/suspend'), 200);
    assertProblem(await usage(allot, { event_id: 'x3', user_id: 'u2', tokens: 1, enforce: true }), 409, 'subscription_suspended');
    assertProblem(await allot.api('GET', '/v1/usage/x3?shop_id=s1'), 404, 'not_found');
    assert.equal(await used(allot, 's1', 'u2'), 0);

    assertProblem(await usage(allot, { event_id: 'x4', user_id: 'nobody', tokens: 1 }), 404, 'subscription_not_found');
    assertProblem(await allot.api('GET', '/v1/usage/x4?shop_id=s1'), 404, 'not_found');
  });

  test(`${dialect}: usage — more than a whole period's allowance: 429 without Retry-After, and the detail says why`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    const refusal = async (body: Record<string, unknown>) => {
      const res = await usage(allot, { enforce: true, ...body });
      assertProblem(res, 429, 'quota_exceeded');
      return { retryAfter: res.headers.get('retry-after'), seconds: res.body.retry_after_seconds, detail: res.body.detail };
    };
    const toPeriodEnd = String((Date.parse('2026-02-28T12:00:00.000Z') - Date.parse(ANCHOR)) / 1000);
    const never = { retryAfter: null, seconds: undefined };

    assert.deepEqual(await refusal({ event_id: 'w1', tokens: 100_001 }), {
      ...never, detail: '100001 tokens exceed the whole allowance of 100000 tokens a period: no wait makes them fit.',
    });
    assertStatus(await usage(allot, { event_id: 'w2', tokens: 1 }), 200);
    assert.deepEqual(await refusal({ event_id: 'w3', tokens: 100_000 }), {
      retryAfter: toPeriodEnd, seconds: Number(toPeriodEnd), detail: '100000 tokens exceed the 99999 remaining in this period.',
    }, 'a whole allowance fits the next period');

    // A change waiting for the period's end sets the allowance of the periods after it.
    assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'pro', when: 'period_end' }), 200);
    assert.equal((await refusal({ event_id: 'w4', tokens: 400_000 })).retryAfter, toPeriodEnd, 'the larger plan from the next period holds it');
    assert.deepEqual((await refusal({ event_id: 'w5', tokens: 400_001 })).retryAfter, null);

    const pro = await allot.api('PUT', '/v1/subscriptions/s1/u2', { plan_id: 'pro' });
    assertStatus(pro, 201);
    assertStatus(await usage(allot, { event_id: 'w6', user_id: 'u2', tokens: 350_000 }), 200);
    assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u2', { plan_id: 'basic', when: 'period_end' }), 200);
    assert.deepEqual(await refusal({ event_id: 'w7', user_id: 'u2', tokens: 100_001 }), {
      ...never,
      detail: '100001 tokens exceed the 50000 remaining in this period and the whole allowance of 100000 tokens a period on plan basic from the next period: no wait makes them fit.',
    });
    assert.equal((await refusal({ event_id: 'w8', user_id: 'u2', tokens: 60_000 })).retryAfter, toPeriodEnd);

    for (const id of ['w1', 'w3', 'w4', 'w5', 'w7', 'w8']) assertProblem(await allot.api('GET', `/v1/usage/${id}?shop_id=s1`), 404, 'not_found');
    assert.equal(await used(allot), 1);
  });

  test(`${dialect}: check — answers and changes nothing`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    await usage(allot, { event_id: 'e1', tokens: 40_000 });
    const check = (body: Record<string, unknown>) => allot.api('POST', '/v1/check', { shop_id: 's1', user_id: 'u1', ...body });

    assert.deepEqual((await check({ tokens: 60_000 })).body, { allowed: true, remaining_tokens: 60_000, reason: null });
    assert.deepEqual((await check({ tokens: 60_001 })).body, { allowed: false, remaining_tokens: 60_000, reason: 'quota_exceeded' });
    assert.deepEqual((await check({})).body, { allowed: true, remaining_tokens: 60_000, reason: null });
    assert.deepEqual((await check({ user_id: 'nobody' })).body, { allowed: false, remaining_tokens: 0, reason: 'subscription_not_found' });
    await allot.api('POST', '/v1/subscriptions/s1/u1/suspend');
    assert.deepEqual((await check({ tokens: 1 })).body, { allowed: false, remaining_tokens: 60_000, reason: 'subscription_suspended' });
    assert.equal(await used(allot), 40_000);
    const events = await allot.api('GET', '/v1/usage?shop_id=s1');
    assert.equal(events.body.data.length, 1);
    assertProblem(await allot.api('POST', '/v1/check', { shop_id: 's1', user_id: 'u1', tokens: -1 }), 400, 'validation_error');
  });

  test(`${dialect}: usage list — pagination, from/to, filters`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    await subscribe(allot, 's1', 'u2');
    await subscribe(allot, 's2', 'u1');
    const days = ['2026-02-01', '2026-02-02', '2026-02-03', '2026-02-04', '2026-02-05'];
    for (const [i, day] of days.entries()) {
      await allot.setClock(`${day}T09:00:00.000Z`);
      await usage(allot, { event_id: `a${i}`, tokens: 10 + i });
      await usage(allot, { event_id: `b${i}`, user_id: 'u2', tokens: 100 });
    }
    await usage(allot, { event_id: 'a0', shop_id: 's2', tokens: 1 });

    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const res: ApiResponse = await allot.api('GET', `/v1/usage?shop_id=s1&user_id=u1&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assertStatus(res, 200);
      ids.push(...res.body.data.map((e: { event_id: string }) => e.event_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    assert.deepEqual(ids, ['a0', 'a1', 'a2', 'a3', 'a4']);

    const ranged = await allot.api('GET', '/v1/usage?shop_id=s1&user_id=u1&from=2026-02-02T00:00:00.000Z&to=2026-02-04T09:00:00.000Z');
    assert.deepEqual(ranged.body.data.map((e: { event_id: string }) => e.event_id), ['a1', 'a2'], 'from is inclusive, to exclusive');
    const byDay = await allot.api('GET', '/v1/usage?shop_id=s1&from=2026-02-05');
    assert.deepEqual(byDay.body.data.map((e: { event_id: string }) => e.event_id), ['a4', 'b4']);
    const allShops = await allot.api('GET', '/v1/usage?limit=100');
    assert.equal(allShops.body.data.length, 11);
    const otherShop = await allot.api('GET', '/v1/usage?shop_id=s2');
    assert.deepEqual(otherShop.body.data.map((e: { event_id: string; tokens: number }) => [e.event_id, e.tokens]), [['a0', 1]]);
    assertProblem(await allot.api('GET', '/v1/usage?from=yesterday'), 400, 'validation_error');
  });

  test(`${dialect}: usage list — a day as to covers that whole day; from after to → 400`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    const at = async (instant: string, eventId: string) => {
      await allot.setClock(instant);
      assertStatus(await usage(allot, { event_id: eventId, tokens: 1 }), 200);
    };
    await at('2026-02-01T09:00:00.000Z', 'feb1');
    await at('2026-02-02T00:00:00.000Z', 'feb2-first');
    await at('2026-02-02T23:59:59.999Z', 'feb2-last');
    await at('2026-02-03T00:00:00.000Z', 'feb3');
    const listed = async (query: string) => {
      const res = await allot.api('GET', `/v1/usage?shop_id=s1&${query}`);
      assertStatus(res, 200);
      return res.body.data.map((e: { event_id: string }) => e.event_id);
    };

    assert.deepEqual(await listed('to=2026-02-02'), ['feb1', 'feb2-first', 'feb2-last'], 'to=day includes that day, as /usage/daily does');
    assert.deepEqual(await listed('from=2026-02-02&to=2026-02-02'), ['feb2-first', 'feb2-last'], 'one day, from and to alike');
    assert.deepEqual(await listed('from=2026-02-02T12:00:00.000Z&to=2026-02-02'), ['feb2-last']);
    assert.deepEqual(await listed('to=2026-02-03T00:00:00.000Z'), ['feb1', 'feb2-first', 'feb2-last'], 'an instant stays an exclusive end');

    for (const query of [
      'from=2026-02-03&to=2026-02-02',
      'from=2026-02-02T00:00:00.001Z&to=2026-02-02T00:00:00.000Z',
      'from=2026-02-03T00:00:00.000Z&to=2026-02-02',
      'from=2026-02-02T00:00:00.000Z&to=2026-02-02T00:00:00.000Z',
    ]) {
      const res = await allot.api('GET', `/v1/usage?shop_id=s1&${query}`);
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), ['from'], query);
    }
    const daily = await allot.api('GET', '/v1/subscriptions/s1/u1/usage/daily?from=2026-02-03&to=2026-02-02');
    assertProblem(daily, 400, 'validation_error');
    assert.deepEqual(errorPaths(daily), ['from']);
  });

  test(`${dialect}: usage — bad input is 400 and changes nothing`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ event_id: 'e1' }, ['tokens']],
      [{ event_id: 'e1', tokens: -1 }, ['tokens']],
      [{ event_id: 'e1', tokens: 1.5 }, ['tokens']],
      [{ event_id: 'e1', tokens: 1e12 + 1 }, ['tokens']],
      [{ event_id: 'e1', tokens: '5' }, ['tokens']],
      [{ event_id: 'e1', input_tokens: 6e11, output_tokens: 6e11 }, ['tokens']],
      [{ event_id: 'e1', tokens: 1, enforce: 'yes' }, ['enforce']],
      [{ event_id: 'e 1', tokens: 1 }, ['event_id']],
      [{ event_id: 'e1', tokens: 1, user_id: '' }, ['user_id']],
      [{ event_id: 'e1', tokens: 1, model: 'm'.repeat(201) }, ['model']],
      [{ event_id: 'e1', tokens: 1, extra: true }, ['extra']],
    ];
    for (const [body, paths] of cases) {
      const res = await usage(allot, body);
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), paths, JSON.stringify(body));
    }
    assert.equal((await usage(allot, { event_id: 'e1', tokens: 1e12 })).body.tokens, 1e12, 'the largest count is fine');
    assert.equal(await used(allot), 1e12);
    assertProblem(await allot.api('GET', '/v1/usage/e1'), 400, 'validation_error');
  });

  test(`${dialect}: usage — a shop key sees only its own shop; event ids are per shop`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 'shopA', 'u1');
    await subscribe(allot, 'shopB', 'u1');
    const keyA = await createShopKey(allot, 'shopA');
    const keyB = await createShopKey(allot, 'shopB');

    const a = await usage(allot, { event_id: 'same', shop_id: 'shopA', tokens: 10 }, keyA);
    assertStatus(a, 200);
    const b = await usage(allot, { event_id: 'same', shop_id: 'shopB', tokens: 20 }, keyB);
    assertStatus(b, 200);
    assert.equal(b.body.duplicate, false, 'one shop cannot probe another shop\'s event ids');
    assert.equal(b.body.used_tokens, 20);

    assertProblem(await usage(allot, { event_id: 'x', shop_id: 'shopB', tokens: 1 }, keyA), 404, 'subscription_not_found');
    assert.equal((await allot.api('GET', '/v1/usage/same?shop_id=shopB', undefined, { key: keyA })).status, 404);
    const own = await allot.api('GET', '/v1/usage/same', undefined, { key: keyA });
    assertStatus(own, 200);
    assert.equal(own.body.tokens, 10);
    assert.equal((await allot.api('GET', '/v1/usage?shop_id=shopB', undefined, { key: keyA })).status, 404);
    const listed = await allot.api('GET', '/v1/usage', undefined, { key: keyA });
    assert.deepEqual(listed.body.data.map((e: { shop_id: string }) => e.shop_id), ['shopA']);
    const check = await allot.api('POST', '/v1/check', { shop_id: 'shopB', user_id: 'u1' }, { key: keyA });
    assert.deepEqual(check.body, { allowed: false, remaining_tokens: 0, reason: 'subscription_not_found' });
    assert.equal(await used(allot, 'shopB'), 20);
  });
}
