/**
 * Reservations (SPEC §6): hold before an LLM call, commit or release after;
 * holds and usage never exceed the allowance; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

const ANCHOR = '2026-01-31T12:00:00.000Z';

async function start(dialect: (typeof DIALECTS)[number], t: { after(fn: () => Promise<void>): void }) {
  const allot = await startAllot(dialect, { clock: ANCHOR });
  t.after(allot.close);
  await seedPlans(allot, ['basic']);
  const res = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' });
  assertStatus(res, 201);
  return { allot, subId: res.body.id as string };
}

function hold(allot: Allot, body: Record<string, unknown>, key?: string) {
  return allot.api('POST', '/v1/reservations', { shop_id: 's1', user_id: 'u1', ...body }, { key });
}

async function counters(allot: Allot) {
  const sub = (await allot.api('GET', '/v1/subscriptions/s1/u1')).body;
  return { used: sub.used_tokens, reserved: sub.reserved_tokens, remaining: sub.remaining_tokens };
}

for (const dialect of DIALECTS) {
  test(`${dialect}: reservations — hold, then commit above the hold`, async (t) => {
    const { allot, subId } = await start(dialect, t);

    const held = await hold(allot, { tokens: 60_000 });
    assertStatus(held, 201);
    assert.match(held.body.id, /^res_[0-9a-z]{26}$/);
    assert.deepEqual({ ...held.body, id: 'x' }, {
      id: 'x', shop_id: 's1', user_id: 'u1', subscription_id: subId, status: 'active', tokens: 60_000,
      expires_at: '2026-01-31T12:05:00.000Z', created_at: ANCHOR, committed_tokens: null, event_id: null, remaining_tokens: 40_000,
    });
    assert.deepEqual(await counters(allot), { used: 0, reserved: 60_000, remaining: 40_000 });

    assertProblem(await hold(allot, { tokens: 40_001 }), 429, 'quota_exceeded');
    const whole = await hold(allot, { tokens: 100_001 });
    assertProblem(whole, 429, 'quota_exceeded');
    assert.equal(whole.headers.get('retry-after'), null, 'no wait makes a hold larger than the allowance fit');
    assert.equal(whole.body.detail, '100001 tokens exceed the whole allowance of 100000 tokens a period: no wait makes them fit.');
    const enforced = await allot.api('POST', '/v1/usage', { event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 40_001, enforce: true });
    assertProblem(enforced, 429, 'quota_exceeded');
    assertStatus(await hold(allot, { tokens: 40_000 }), 201);
    assertProblem(await hold(allot, { tokens: 1 }), 429, 'quota_exceeded');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 100_000, remaining: 0 });

    const commit = await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 70_000 });
    assertStatus(commit, 200);
    assert.deepEqual(commit.body, {
      event_id: `reservation:${held.body.id}`, subscription_id: subId, tokens: 70_000, used_tokens: 70_000, reserved_tokens: 40_000,
      remaining_tokens: 0, allocated_tokens: 100_000, usage_percentage: 70, over_limit: false, duplicate: false,
      reservation_id: held.body.id, status: 'committed', reservation_expired: false,
    });
    assert.deepEqual(await counters(allot), { used: 70_000, reserved: 40_000, remaining: 0 });

    const replay = await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 70_000 });
    assertStatus(replay, 200);
    assert.deepEqual(replay.body, { ...commit.body, duplicate: true });
    assertProblem(await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 69_999 }), 409, 'idempotency_conflict');
    assertProblem(await allot.api('POST', `/v1/reservations/${held.body.id}/release`, {}), 409, 'reservation_not_active');
    assert.deepEqual(await counters(allot), { used: 70_000, reserved: 40_000, remaining: 0 });

    const event = await allot.api('GET', `/v1/usage/reservation:${held.body.id}?shop_id=s1`);
    assertStatus(event, 200);
    assert.equal(event.body.reservation_id, held.body.id);
    assert.equal(event.body.tokens, 70_000);
    const got = await allot.api('GET', `/v1/reservations/${held.body.id}`);
    assert.equal(got.body.status, 'committed');
    assert.equal(got.body.committed_tokens, 70_000);
  });

  test(`${dialect}: reservations — release is idempotent; commit after release → 409`, async (t) => {
    const { allot } = await start(dialect, t);
    const held = await hold(allot, { tokens: 30_000 });
    const released = await allot.api('POST', `/v1/reservations/${held.body.id}/release`, {});
    assertStatus(released, 200);
    assert.equal(released.body.status, 'released');
    assert.equal(released.body.remaining_tokens, 100_000);
    const again = await allot.api('POST', `/v1/reservations/${held.body.id}/release`);
    assertStatus(again, 200);
    assert.equal(again.body.status, 'released');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 0, remaining: 100_000 });
    assertProblem(await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 5 }), 409, 'reservation_not_active');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 0, remaining: 100_000 });
    assertProblem(await allot.api('POST', '/v1/reservations/res_nope/release', {}), 404, 'reservation_not_found');
    assertProblem(await allot.api('POST', '/v1/reservations/res_nope/commit', { tokens: 1 }), 404, 'reservation_not_found');
  });

  test(`${dialect}: reservations — expired holds free themselves; a late commit still counts`, async (t) => {
    const { allot } = await start(dialect, t);
    const held = await hold(allot, { tokens: 80_000, ttl_seconds: 60 });
    assert.equal(held.body.expires_at, '2026-01-31T12:01:00.000Z');
    const other = await hold(allot, { tokens: 10_000, ttl_seconds: 60 });
    await allot.setClock('2026-01-31T12:00:59.999Z');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 90_000, remaining: 10_000 });
    await allot.setClock('2026-01-31T12:01:00.000Z');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 0, remaining: 100_000 });
    assert.equal((await allot.api('GET', `/v1/reservations/${held.body.id}`)).body.status, 'expired');

    const late = await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 5_000, event_id: 'late-1' });
    assertStatus(late, 200);
    assert.equal(late.body.reservation_expired, true);
    assert.equal(late.body.event_id, 'late-1');
    assert.equal(late.body.used_tokens, 5_000);
    assert.equal(late.body.reserved_tokens, 0);
    const replay = await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 5_000, event_id: 'late-1' });
    assert.deepEqual(replay.body, { ...late.body, duplicate: true });
    assert.deepEqual(await counters(allot), { used: 5_000, reserved: 0, remaining: 95_000 });

    const released = await allot.api('POST', `/v1/reservations/${other.body.id}/release`, {});
    assertStatus(released, 200);
    assert.equal(released.body.status, 'released', 'the client gave it up');
    assert.deepEqual(await counters(allot), { used: 5_000, reserved: 0, remaining: 95_000 }, 'an expired hold frees nothing twice');
    const afterRelease = await allot.api('POST', `/v1/reservations/${other.body.id}/commit`, { tokens: 1_000 });
    assertStatus(afterRelease, 409);
    assert.equal(afterRelease.body.code, 'reservation_not_active');
    assert.deepEqual(await counters(allot), { used: 5_000, reserved: 0, remaining: 95_000 });
    assertStatus(await allot.api('POST', `/v1/reservations/${other.body.id}/release`, {}), 200);

    // The sweep frees holds on subscriptions nobody reads.
    const third = await hold(allot, { tokens: 1_000, ttl_seconds: 1 });
    await allot.setClock('2026-01-31T12:01:02.000Z');
    const sweep = await allot.api('POST', '/v1/renewals/run');
    assert.equal(sweep.body.holds_checked, 1);
    const row = await allot.testDb.db.one<{ status: string }>('SELECT status FROM reservations WHERE id = ?', [third.body.id]);
    assert.equal(row?.status, 'expired');
  });

  test(`${dialect}: reservations — a read answers the subscription's remaining tokens in every state`, async (t) => {
    const { allot } = await start(dialect, t);
    const read = async (id: string) => {
      const res = await allot.api('GET', `/v1/reservations/${id}`);
      assertStatus(res, 200);
      return { status: res.body.status, remaining: res.body.remaining_tokens };
    };
    const active = await hold(allot, { tokens: 20_000, ttl_seconds: 60 });
    assert.equal(active.body.remaining_tokens, 80_000);
    assert.deepEqual(await read(active.body.id), { status: 'active', remaining: 80_000 }, 'as its creation answered');
    const committed = await hold(allot, { tokens: 10_000, ttl_seconds: 3600 });
    assertStatus(await allot.api('POST', `/v1/reservations/${committed.body.id}/commit`, { tokens: 4_000 }), 200);
    assert.deepEqual(await read(committed.body.id), { status: 'committed', remaining: 76_000 });
    const released = await hold(allot, { tokens: 5_000, ttl_seconds: 3600 });
    assertStatus(await allot.api('POST', `/v1/reservations/${released.body.id}/release`, {}), 200);
    assert.deepEqual(await read(released.body.id), { status: 'released', remaining: 76_000 });
    assert.deepEqual(await read(active.body.id), { status: 'active', remaining: 76_000 }, 'the count now, not at creation');
    await allot.setClock('2026-01-31T12:01:00.000Z');
    assert.deepEqual(await read(active.body.id), { status: 'expired', remaining: 96_000 }, 'its own freed tokens count');
    await allot.setClock('2026-02-28T12:00:00.000Z');
    assert.deepEqual(await read(active.body.id), { status: 'expired', remaining: 100_000 }, 'the period that began since');
    assertStatus(await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: false }), 200);
    assert.deepEqual(await read(committed.body.id), { status: 'committed', remaining: 100_000 }, 'a canceled subscription keeps its counters');
  });

  test(`${dialect}: reservations — a commit's own event id can be looked up at any id length, and clients cannot take it`, async (t) => {
    const { allot } = await start(dialect, t);
    const longest = 'r'.repeat(128);
    assertStatus(await hold(allot, { reservation_id: longest, tokens: 10 }), 201);
    const committed = await allot.api('POST', `/v1/reservations/${longest}/commit`, { tokens: 5 });
    assertStatus(committed, 200);
    assert.equal(committed.body.event_id, `reservation:${longest}`);
    const found = await allot.api('GET', `/v1/usage/reservation:${longest}?shop_id=s1`);
    assertStatus(found, 200);
    assert.equal(found.body.tokens, 5);
    const tooLong = await allot.api('GET', `/v1/usage/reservation:${longest}r?shop_id=s1`);
    assertStatus(tooLong, 400);

    assertStatus(await hold(allot, { reservation_id: 'r-f', tokens: 10 }), 201);
    const taken = await allot.api('POST', '/v1/usage', { event_id: 'reservation:r-f', shop_id: 's1', user_id: 'u1', tokens: 1 });
    assertStatus(taken, 400);
    assert.deepEqual(taken.body.errors.map((e: { path: string }) => e.path), ['event_id']);
    const named = await allot.api('POST', '/v1/reservations/r-f/commit', { tokens: 1, event_id: 'reservation:other' });
    assertStatus(named, 400);
    assert.deepEqual(named.body.errors.map((e: { path: string }) => e.path), ['event_id']);
    const own = await allot.api('POST', '/v1/reservations/r-f/commit', { tokens: 3 });
    assertStatus(own, 200);
    assert.equal(own.body.event_id, 'reservation:r-f');
    assert.deepEqual(await counters(allot), { used: 8, reserved: 0, remaining: 100_000 - 8 });
  });

  test(`${dialect}: reservations — holds survive a rollover`, async (t) => {
    const { allot } = await start(dialect, t);
    await allot.api('POST', '/v1/usage', { event_id: 'e1', shop_id: 's1', user_id: 'u1', tokens: 50_000 });
    await allot.setClock('2026-02-28T11:30:00.000Z');
    const held = await hold(allot, { tokens: 30_000, ttl_seconds: 3600 });
    assertStatus(held, 201);
    await allot.setClock('2026-02-28T12:10:00.000Z');
    const sub = (await allot.api('GET', '/v1/subscriptions/s1/u1')).body;
    assert.equal(sub.current_period_start, '2026-02-28T12:00:00.000Z');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 30_000, remaining: 70_000 });
    assertProblem(await hold(allot, { tokens: 70_001 }), 429, 'quota_exceeded');
    const commit = await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 10_000 });
    assertStatus(commit, 200);
    assert.equal(commit.body.reservation_expired, false);
    assert.deepEqual(await counters(allot), { used: 10_000, reserved: 0, remaining: 90_000 });
    const periods = await allot.api('GET', '/v1/subscriptions/s1/u1/periods');
    assert.equal(periods.body.data[0].used_tokens, 50_000);
  });

  test(`${dialect}: reservations — a hold freed by cancellation still takes its commit`, async (t) => {
    const { allot } = await start(dialect, t);
    const held = await hold(allot, { tokens: 1_000 });
    assertProblem(await hold(allot, { tokens: 99_001 }), 429, 'quota_exceeded');
    const full = await hold(allot, { tokens: 99_001 });
    assert.equal(full.headers.get('retry-after'), String((Date.parse('2026-02-28T12:00:00.000Z') - Date.parse(ANCHOR)) / 1000));
    const canceled = await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: false });
    assert.equal(canceled.body.reserved_tokens, 0);
    const late = await allot.api('POST', `/v1/reservations/${held.body.id}/commit`, { tokens: 800 });
    assertStatus(late, 200);
    assert.equal(late.body.reservation_expired, true);
    assert.equal(late.body.used_tokens, 800, 'tokens spent during the call are never dropped');
    assertStatus(await allot.api('GET', `/v1/usage/reservation:${held.body.id}?shop_id=s1`), 200);
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.status, 'canceled');
  });

  test(`${dialect}: reservations — a cancel at period end frees the holds it ends`, async (t) => {
    const { allot } = await start(dialect, t);
    await allot.api('POST', '/v1/subscriptions/s1/u1/cancel');
    await allot.setClock('2026-02-28T11:30:00.000Z');
    const held = await hold(allot, { tokens: 2_000, ttl_seconds: 3600 });
    assertStatus(held, 201);
    await allot.setClock('2026-02-28T12:00:00.000Z');
    const sub = await allot.api('GET', '/v1/subscriptions/s1/u1');
    assert.equal(sub.body.status, 'canceled');
    assert.equal(sub.body.reserved_tokens, 0);
    assert.equal((await allot.api('GET', `/v1/reservations/${held.body.id}`)).body.status, 'expired');
  });

  test(`${dialect}: reservations — a commit after a canceling subscription ended says expired, whether or not anything read it first`, async (t) => {
    const { allot } = await start(dialect, t);
    assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u2', { plan_id: 'basic' }), 201);
    await allot.setClock('2026-02-28T11:30:00.000Z');
    const holds: Record<string, string> = {};
    for (const user of ['u1', 'u2']) {
      assertStatus(await allot.api('POST', `/v1/subscriptions/s1/${user}/cancel`, { at_period_end: true }), 200);
      const held = await allot.api('POST', '/v1/reservations', { shop_id: 's1', user_id: user, tokens: 2_000, ttl_seconds: 3600 });
      assertStatus(held, 201);
      holds[user] = held.body.id;
    }
    // The subscriptions ended at 12:00, while the holds' own time runs to 12:30.
    await allot.setClock('2026-02-28T12:10:00.000Z');
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.status, 'canceled', 'u1 is read first; u2 is not');
    for (const user of ['u1', 'u2']) {
      const commit = await allot.api('POST', `/v1/reservations/${holds[user]}/commit`, { tokens: 500 });
      assertStatus(commit, 200);
      assert.equal(commit.body.reservation_expired, true, `${user}: the hold ended with its subscription`);
      assert.equal(commit.body.used_tokens, 500);
      assert.equal(commit.body.reserved_tokens, 0);
      const sub = (await allot.api('GET', `/v1/subscriptions/s1/${user}`)).body;
      assert.equal(sub.status, 'canceled');
      assert.equal(sub.reserved_tokens, 0);
    }
  });

  test(`${dialect}: reservations — client ids replay; bad input; suspended; no subscription`, async (t) => {
    const { allot } = await start(dialect, t);
    const first = await hold(allot, { reservation_id: 'call-1', tokens: 100 });
    assertStatus(first, 201);
    assert.equal(first.body.id, 'call-1');
    const again = await hold(allot, { reservation_id: 'call-1', tokens: 100 });
    assert.equal(again.body.id, 'call-1');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 100, remaining: 99_900 });
    assertProblem(await hold(allot, { reservation_id: 'call-1', tokens: 101 }), 409, 'idempotency_conflict');

    for (const [body, path] of [
      [{ tokens: -1 }, 'tokens'], [{ tokens: 1.5 }, 'tokens'], [{}, 'tokens'], [{ tokens: 1, ttl_seconds: 0 }, 'ttl_seconds'],
      [{ tokens: 1, ttl_seconds: 3601 }, 'ttl_seconds'], [{ tokens: 1, reservation_id: 'a b' }, 'reservation_id'], [{ tokens: 1, note: 'x' }, 'note'],
    ] as const) {
      const res = await hold(allot, body);
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), [path]);
    }
    assertProblem(await allot.api('POST', '/v1/reservations/call-1/commit', { tokens: -5 }), 400, 'validation_error');
    assertProblem(await allot.api('POST', '/v1/reservations/call-1/commit', {}), 400, 'validation_error');
    assert.deepEqual(await counters(allot), { used: 0, reserved: 100, remaining: 99_900 });

    assertProblem(await hold(allot, { user_id: 'nobody', tokens: 1 }), 404, 'subscription_not_found');
    await allot.api('POST', '/v1/subscriptions/s1/u1/suspend');
    assertProblem(await hold(allot, { tokens: 1 }), 409, 'subscription_suspended');
    assert.equal((await allot.api('POST', '/v1/reservations/call-1/commit', { tokens: 50 })).status, 200, 'spent tokens count while suspended');
  });

  test(`${dialect}: reservations — a shop key sees only its own`, async (t) => {
    const { allot } = await start(dialect, t);
    await allot.api('PUT', '/v1/subscriptions/shopB/u1', { plan_id: 'basic' });
    const keyA = await createShopKey(allot, 's1');
    const theirs = await allot.api('POST', '/v1/reservations', { shop_id: 'shopB', user_id: 'u1', tokens: 10 });
    assertStatus(theirs, 201);
    const mine = await hold(allot, { tokens: 10 }, keyA);
    assertStatus(mine, 201);

    assertProblem(await hold(allot, { shop_id: 'shopB', tokens: 10 }, keyA), 404, 'subscription_not_found');
    assertProblem(await allot.api('GET', `/v1/reservations/${theirs.body.id}`, undefined, { key: keyA }), 404, 'reservation_not_found');
    assertProblem(await allot.api('POST', `/v1/reservations/${theirs.body.id}/commit`, { tokens: 1 }, { key: keyA }), 404, 'reservation_not_found');
    assertProblem(await allot.api('POST', `/v1/reservations/${theirs.body.id}/release`, {}, { key: keyA }), 404, 'reservation_not_found');
    assertProblem(
      await allot.api('POST', `/v1/reservations/${theirs.body.id}/release`, { shop_id: 'shopB' }, { key: keyA }),
      404,
      'reservation_not_found',
    );
    assertStatus(await allot.api('GET', `/v1/reservations/${mine.body.id}`, undefined, { key: keyA }), 200);
    assertStatus(await allot.api('POST', `/v1/reservations/${mine.body.id}/release`, {}, { key: keyA }), 200);
    const b = (await allot.api('GET', '/v1/subscriptions/shopB/u1')).body;
    assert.equal(b.reserved_tokens, 10, 'shop B\'s hold is untouched');
  });
}
