/**
 * Model rates (SPEC §10): the rates API with its history, events charged
 * ceil(Σ count × weight) once with the weights in force, replays that keep
 * their charge, unpriced models refused with nothing stored, the `*` rate,
 * usage by model, and weighted enforcement exact under a race; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyDatabase } from '../../src/service/verify.ts';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

const ANCHOR = '2026-01-31T12:00:00.000Z';
const LATER = '2026-02-02T08:00:00.000Z';

async function start(dialect: (typeof DIALECTS)[number], t: { after(fn: () => Promise<void>): void }) {
  const allot = await startAllot(dialect, { clock: ANCHOR });
  t.after(allot.close);
  await seedPlans(allot, ['basic', 'pro']);
  return allot;
}

async function subscribe(allot: Allot, shop: string, user: string, plan = 'basic'): Promise<void> {
  assertStatus(await allot.api('PUT', `/v1/subscriptions/${shop}/${user}`, { plan_id: plan }), 201);
}

const usage = (allot: Allot, body: Record<string, unknown>) => allot.api('POST', '/v1/usage', { shop_id: 's1', user_id: 'u1', ...body });
const used = async (allot: Allot, user = 'u1'): Promise<number> => (await allot.api('GET', `/v1/subscriptions/s1/${user}`)).body.used_tokens;
const setRate = (allot: Allot, model: string, body: Record<string, unknown>) => allot.api('PUT', `/v1/models/${encodeURIComponent(model)}`, body);

for (const dialect of DIALECTS) {
  test(`${dialect}: models — weights are set, kept exactly, listed with their history, and deleted`, async (t) => {
    const allot = await start(dialect, t);

    const created = await allot.api('PUT', '/v1/models/openai%2Fgpt-4o', { input_weight: 2.5, output_weight: '10', cached_input_weight: '0.25' });
    assertStatus(created, 201);
    assert.deepEqual(created.body, {
      model: 'openai/gpt-4o', input_weight: 2.5, cached_input_weight: 0.25, output_weight: 10, effective_from: ANCHOR, history: [],
    });
    assert.deepEqual((await allot.api('GET', '/v1/models/openai%2Fgpt-4o')).body, created.body);

    const same = await setRate(allot, 'openai/gpt-4o', { input_weight: '2.500000', output_weight: 10, cached_input_weight: 0.25 });
    assertStatus(same, 200);
    assert.deepEqual(same.body, created.body, 'the same weights again change nothing');

    await allot.setClock(LATER);
    const changed = await setRate(allot, 'openai/gpt-4o', { input_weight: 0.000001, output_weight: 999.999999 });
    assertStatus(changed, 200);
    assert.deepEqual(changed.body, {
      model: 'openai/gpt-4o', input_weight: 0.000001, cached_input_weight: 0.000001, output_weight: 999.999999, effective_from: LATER,
      history: [{ input_weight: 2.5, cached_input_weight: 0.25, output_weight: 10, effective_from: ANCHOR, effective_to: LATER }],
    });
    // Within the same instant a change replaces the weights: no span of time is left to keep.
    const again = await setRate(allot, 'openai/gpt-4o', { input_weight: 1, output_weight: 4 });
    assertStatus(again, 200);
    assert.deepEqual([again.body.input_weight, again.body.cached_input_weight, again.body.history.length], [1, 1, 1]);

    assertStatus(await setRate(allot, '*', { input_weight: 1, output_weight: 1, cached_input_weight: 0 }), 201);
    assertStatus(await setRate(allot, 'anthropic/claude', { input_weight: 3, output_weight: 15 }), 201);
    const listed = await allot.api('GET', '/v1/models?limit=2');
    assertStatus(listed, 200);
    assert.deepEqual(listed.body.data.map((r: { model: string }) => r.model), ['*', 'anthropic/claude']);
    const rest = await allot.api('GET', `/v1/models?limit=2&cursor=${listed.body.next_cursor}`);
    assert.deepEqual(rest.body.data.map((r: { model: string; history: unknown[] }) => [r.model, r.history.length]), [['openai/gpt-4o', 1]]);
    assert.equal(rest.body.next_cursor, null);

    const shopKey = await createShopKey(allot, 's1');
    assertProblem(await allot.api('PUT', '/v1/models/m', { input_weight: 1, output_weight: 1 }, { key: shopKey }), 403, 'forbidden');
    assertProblem(await allot.api('DELETE', '/v1/models/*', undefined, { key: shopKey }), 403, 'forbidden');
    assertStatus(await allot.api('GET', '/v1/models/*', undefined, { key: shopKey }), 200);

    await allot.setClock('2026-02-03T00:00:00.000Z');
    assertStatus(await allot.api('DELETE', '/v1/models/anthropic%2Fclaude'), 204);
    assertProblem(await allot.api('GET', '/v1/models/anthropic%2Fclaude'), 404, 'model_not_found');
    assertProblem(await allot.api('DELETE', '/v1/models/anthropic%2Fclaude'), 404, 'model_not_found');
    await allot.setClock('2026-02-04T00:00:00.000Z');
    const back = await setRate(allot, 'anthropic/claude', { input_weight: 3, output_weight: 16 });
    assertStatus(back, 201);
    assert.deepEqual(back.body.history, [
      { input_weight: 3, cached_input_weight: 3, output_weight: 15, effective_from: '2026-02-02T08:00:00.000Z', effective_to: '2026-02-03T00:00:00.000Z' },
    ]);
  });

  test(`${dialect}: models — bad weights and model ids are 400, and change nothing`, async (t) => {
    const allot = await start(dialect, t);
    assertStatus(await setRate(allot, 'm', { input_weight: 1, output_weight: 2 }), 201);
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ input_weight: -1, output_weight: 1 }, ['input_weight']],
      [{ input_weight: '-0.5', output_weight: 1 }, ['input_weight']],
      [{ input_weight: 'abc', output_weight: 1 }, ['input_weight']],
      [{ input_weight: '1e3', output_weight: 1 }, ['input_weight']],
      [{ input_weight: '', output_weight: 1 }, ['input_weight']],
      [{ input_weight: 0.0000001, output_weight: 1 }, ['input_weight']],
      [{ input_weight: '1.1234567', output_weight: 1 }, ['input_weight']],
      [{ input_weight: 1, output_weight: 1000.000001 }, ['output_weight']],
      [{ input_weight: 1, output_weight: '1001' }, ['output_weight']],
      [{ input_weight: 1, output_weight: 1e300 }, ['output_weight']],
      [{ input_weight: 1, output_weight: '99999999999999999999' }, ['output_weight']],
      [{ input_weight: true, output_weight: null }, ['input_weight', 'output_weight']],
      [{ input_weight: 1 }, ['output_weight']],
      [{ input_weight: 1, output_weight: 1, cached_input_weight: [] }, ['cached_input_weight']],
      [{ input_weight: 1, output_weight: 1, extra: 1 }, ['extra']],
    ];
    for (const [body, paths] of cases) {
      const res = await setRate(allot, 'm', body);
      assertProblem(res, 400, 'validation_error');
      assert.deepEqual(errorPaths(res), paths, JSON.stringify(body));
    }
    assertProblem(await setRate(allot, 'x'.repeat(201), { input_weight: 1, output_weight: 1 }), 400, 'validation_error');
    assertProblem(await allot.api('PUT', '/v1/models/a%00b', { input_weight: 1, output_weight: 1 }), 400, 'validation_error');
    assertProblem(await allot.api('PUT', '/v1/models/%zz', { input_weight: 1, output_weight: 1 }), 400, 'validation_error');
    assertProblem(await allot.api('PUT', '/v1/models/', { input_weight: 1, output_weight: 1 }), 400, 'validation_error');
    // An unencoded `/` makes another path, which no route serves.
    assertProblem(await allot.api('PUT', '/v1/models/openai/gpt-4o', { input_weight: 1, output_weight: 1 }), 404, 'not_found');
    const m = await allot.api('GET', '/v1/models/m');
    assert.deepEqual([m.body.input_weight, m.body.output_weight, m.body.history], [1, 2, []]);
    assert.deepEqual((await allot.api('GET', '/v1/models')).body.data.map((r: { model: string }) => r.model), ['m']);
  });

  test(`${dialect}: models — an event is charged ceil(Σ count × weight) once, replays its charge, and shows its weights`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1', 'pro');

    // No rate at all: every token counts one, as before rates existed.
    const plain = await usage(allot, { event_id: 'p1', input_tokens: 10, cached_input_tokens: 5, output_tokens: 1, model: 'big' });
    assertStatus(plain, 200);
    assert.equal(plain.body.tokens, 16);
    assert.equal(plain.body.weights, undefined);

    assertStatus(await setRate(allot, 'big', { input_weight: 3, cached_input_weight: '0.3', output_weight: 15 }), 201);
    assertStatus(await setRate(allot, 'small', { input_weight: '0.5', cached_input_weight: 0.05, output_weight: 1.5 }), 201);
    assertStatus(await setRate(allot, 'exact', { input_weight: 0.07, output_weight: 0 }), 201);

    // 1234·3 + 5678·0.3 + 91·15 = 3702 + 1703.4 + 1365 = 6770.4 → 6771.
    const mixed = await usage(allot, { event_id: 'e1', input_tokens: 1234, cached_input_tokens: 5678, output_tokens: 91, model: 'big' });
    assertStatus(mixed, 200);
    assert.equal(mixed.body.tokens, 6771);
    assert.equal(mixed.body.used_tokens, 16 + 6771);
    assert.equal(mixed.body.model, 'big');
    assert.deepEqual(mixed.body.weights, { input_weight: 3, cached_input_weight: 0.3, output_weight: 15 });

    // Rounded once per event: 0.5 + 0.05 + 1.5 = 2.05 → 3 (rounding each type up would make 1 + 1 + 2 = 4).
    const once = await usage(allot, { event_id: 'e2', input_tokens: 1, cached_input_tokens: 1, output_tokens: 1, model: 'small' });
    assert.equal(once.body.tokens, 3);
    // Exact decimals: 100 × 0.07 is 7 (in floating point 7.000000000000001, rounded up to 8).
    assert.equal((await usage(allot, { event_id: 'e3', input_tokens: 100, model: 'exact' })).body.tokens, 7);
    // Any charge at all rounds up to a whole token; none is 0.
    assert.equal((await usage(allot, { event_id: 'e4', output_tokens: 1, input_tokens: 1, model: 'exact' })).body.tokens, 1);
    assert.equal((await usage(allot, { event_id: 'e5', output_tokens: 9, model: 'exact' })).body.tokens, 0);
    // Large counts stay exact: 10^12 × 0.07 = 7·10^10.
    assert.equal((await usage(allot, { event_id: 'e6', input_tokens: 1e12, model: 'exact' })).body.tokens, 7e10);
    // tokens given explicitly: charged as given, no weights.
    const given = await usage(allot, { event_id: 'e7', tokens: 50, input_tokens: 1000, model: 'big' });
    assert.equal(given.body.tokens, 50);
    assert.equal(given.body.weights, undefined);

    await allot.setClock(LATER);
    assertStatus(await setRate(allot, 'big', { input_weight: 1, output_weight: 1 }), 200);
    const replay = await usage(allot, { event_id: 'e1', input_tokens: 1234, cached_input_tokens: 5678, output_tokens: 91, model: 'big' });
    assertStatus(replay, 200);
    assert.deepEqual(replay.body, { ...mixed.body, duplicate: true }, 'a replay answers the stored charge and weights');
    assertProblem(await usage(allot, { event_id: 'e1', input_tokens: 1234, cached_input_tokens: 5679, output_tokens: 91, model: 'big' }), 409, 'idempotency_conflict');
    assertProblem(await usage(allot, { event_id: 'e1', input_tokens: 1234, output_tokens: 91, model: 'big' }), 409, 'idempotency_conflict');
    const now = await usage(allot, { event_id: 'e8', input_tokens: 1234, cached_input_tokens: 5678, output_tokens: 91, model: 'big' });
    assert.equal(now.body.tokens, 1234 + 5678 + 91, 'new events use the new weights');

    const stored = await allot.api('GET', '/v1/usage/e1?shop_id=s1');
    assert.deepEqual([stored.body.tokens, stored.body.cached_input_tokens, stored.body.weights],
      [6771, 5678, { input_weight: 3, cached_input_weight: 0.3, output_weight: 15 }]);
    assert.equal((await allot.api('GET', '/v1/usage/p1?shop_id=s1')).body.weights, undefined);

    const byModel = await allot.api('GET', '/v1/subscriptions/s1/u1/usage/by-model');
    assertStatus(byModel, 200);
    assert.deepEqual(byModel.body, {
      shop_id: 's1', user_id: 'u1', from: '2026-01-31', to: '2026-02-02',
      data: [
        { model: 'exact', events: 4, input_tokens: 1e12 + 101, cached_input_tokens: 0, output_tokens: 10, tokens: 7e10 + 8 },
        { model: 'big', events: 4, input_tokens: 10 + 1234 + 1000 + 1234, cached_input_tokens: 5 + 5678 + 5678, output_tokens: 1 + 91 + 91, tokens: 16 + 6771 + 50 + 7003 },
        { model: 'small', events: 1, input_tokens: 1, cached_input_tokens: 1, output_tokens: 1, tokens: 3 },
      ],
    });
    const oneDay = await allot.api('GET', '/v1/subscriptions/s1/u1/usage/by-model?from=2026-02-02&to=2026-02-02');
    assert.deepEqual(oneDay.body.data.map((r: { model: string; tokens: number }) => [r.model, r.tokens]), [['big', 7003]]);
    const status = await allot.api('GET', '/v1/subscriptions/s1/u1/status');
    assert.deepEqual(status.body.usage_by_model, byModel.body.data);
    assert.equal(status.body.used_tokens, byModel.body.data.reduce((sum: number, r: { tokens: number }) => sum + r.tokens, 0));
    assertProblem(await allot.api('GET', '/v1/subscriptions/s1/u1/usage/by-model?from=2026-02-03&to=2026-02-02'), 400, 'validation_error');
    assertProblem(await allot.api('GET', '/v1/subscriptions/s1/nobody/usage/by-model'), 404, 'subscription_not_found');

    assert.deepEqual((await verifyDatabase(allot.testDb.db)).violations, []);
  });

  test(`${dialect}: models — an unpriced model is refused with nothing stored; the * rate prices the rest`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    assertStatus(await setRate(allot, 'known', { input_weight: 2, output_weight: 4 }), 201);

    for (const body of [
      { event_id: 'x1', input_tokens: 10, model: 'unknown' },
      { event_id: 'x1', input_tokens: 10 },
      { event_id: 'x1', input_tokens: 10, model: 'unknown', enforce: true },
    ]) {
      const res = await usage(allot, body);
      assertProblem(res, 422, 'model_not_priced');
    }
    assertProblem(await allot.api('POST', '/v1/reservations', { shop_id: 's1', user_id: 'u1', input_tokens: 10, model: 'unknown' }), 422, 'model_not_priced');
    assertProblem(await allot.api('GET', '/v1/usage/x1?shop_id=s1'), 404, 'not_found');
    assert.equal(await used(allot), 0);
    assert.deepEqual((await allot.api('GET', '/v1/subscriptions/s1/u1/usage/by-model')).body.data, []);
    assert.equal((await allot.api('GET', '/v1/subscriptions/s1/u1')).body.reserved_tokens, 0);
    assertStatus(await usage(allot, { event_id: 'x2', tokens: 10, model: 'unknown' }), 200);

    // A hold's estimate and its commit are priced the same way.
    const held = await allot.api('POST', '/v1/reservations', { reservation_id: 'r1', shop_id: 's1', user_id: 'u1', input_tokens: 100, output_tokens: 10, model: 'known' });
    assertStatus(held, 201);
    assert.equal(held.body.tokens, 240);
    assertProblem(await allot.api('POST', '/v1/reservations/r1/commit', { input_tokens: 100, model: 'unknown', shop_id: 's1' }), 422, 'model_not_priced');
    assert.equal((await allot.api('GET', '/v1/reservations/r1?shop_id=s1')).body.status, 'active', 'a refused commit leaves the hold');

    assertStatus(await setRate(allot, '*', { input_weight: '0.1', output_weight: '0.2' }), 201);
    // 100·2 + 7·4 = 228, with the model's own rate even though * exists.
    const commit = await allot.api('POST', '/v1/reservations/r1/commit', { input_tokens: 100, output_tokens: 7, model: 'known', shop_id: 's1' });
    assertStatus(commit, 200);
    assert.deepEqual([commit.body.tokens, commit.body.model, commit.body.weights], [228, 'known', { input_weight: 2, cached_input_weight: 2, output_weight: 4 }]);
    // 10·0.1 + 5·0.2 = 2, with *.
    const fallback = await usage(allot, { event_id: 'x1', input_tokens: 10, output_tokens: 5, model: 'unknown' });
    assertStatus(fallback, 200);
    assert.deepEqual([fallback.body.tokens, fallback.body.model, fallback.body.weights], [2, 'unknown', { input_weight: 0.1, cached_input_weight: 0.1, output_weight: 0.2 }]);
    assert.equal((await usage(allot, { event_id: 'x3', input_tokens: 30 })).body.tokens, 3, 'an event without a model is priced by *');
    assert.equal(await used(allot), 10 + 228 + 2 + 3);

    // With every rate deleted, no rate is in force: the plain sum again.
    assertStatus(await allot.api('DELETE', '/v1/models/*'), 204);
    assertStatus(await allot.api('DELETE', '/v1/models/known'), 204);
    const plainAgain = await usage(allot, { event_id: 'x4', input_tokens: 30, output_tokens: 1, model: 'unknown' });
    assert.deepEqual([plainAgain.body.tokens, plainAgain.body.weights], [31, undefined]);
    assert.deepEqual((await verifyDatabase(allot.testDb.db)).violations, []);
  });

  test(`${dialect}: models — racing enforced weighted usage ends exactly at the allowance, while the weights change`, async (t) => {
    const allot = await start(dialect, t);
    await subscribe(allot, 's1', 'u1');
    // Each event costs 1000·2.4 + 100·0.5 + 10·5 = 2500: 40 of them fill the 100 000 allowance exactly.
    assertStatus(await setRate(allot, 'm', { input_weight: 2.4, cached_input_weight: 0.5, output_weight: 5 }), 201);
    const event = (i: number) => usage(allot, { event_id: `race-${i}`, input_tokens: 1000, cached_input_tokens: 100, output_tokens: 10, model: 'm', enforce: true });
    const answers = await Promise.all(Array.from({ length: 70 }, (_, i) => event(i)));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 200).length, 40, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 429).length, 30);
    assert.equal(await used(allot), 100_000);

    // Another subscription's usage races changes of the weights: each event is charged with the weights it shows.
    await subscribe(allot, 's1', 'u2', 'pro');
    await allot.setClock(LATER);
    const racing = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => usage(allot, { event_id: `w-${i}`, user_id: 'u2', input_tokens: 1000, output_tokens: 3, model: 'm' })),
      ...Array.from({ length: 6 }, (_, i) => setRate(allot, 'm', { input_weight: 1 + i, output_weight: '0.333333' })),
    ]);
    for (const answer of racing) assertStatus(answer, 200);
    let sum = 0;
    for (const answer of racing.slice(0, 30)) {
      const { input_weight, output_weight } = answer.body.weights as { input_weight: number; output_weight: number };
      assert.equal(answer.body.tokens, Math.ceil(Math.round(1000 * input_weight * 1e6 + 3 * output_weight * 1e6) / 1e6));
      sum += answer.body.tokens;
    }
    assert.equal(await used(allot, 'u2'), sum);
    assert.deepEqual((await verifyDatabase(allot.testDb.db)).violations, []);
  });
}

test('sqlite: models — the README\'s worked example charges what it says', async (t) => {
  const allot = await start('sqlite', t);
  await subscribe(allot, 's1', 'u1', 'pro');
  assertStatus(await setRate(allot, 'openai/gpt-4o', { input_weight: 2.5, cached_input_weight: 1.25, output_weight: 10 }), 201);
  assertStatus(await setRate(allot, 'openai/gpt-4o-mini', { input_weight: '0.15', cached_input_weight: '0.075', output_weight: '0.6' }), 201);
  const charged = async (event_id: string, model: string, input_tokens: number, cached_input_tokens: number, output_tokens: number) =>
    (await usage(allot, { event_id, model, input_tokens, cached_input_tokens, output_tokens })).body.tokens;
  assert.equal(await charged('a', 'openai/gpt-4o', 1200, 800, 350), 7500);
  assert.equal(await charged('b', 'openai/gpt-4o-mini', 1200, 800, 350), 450);
  assert.equal(await charged('c', 'openai/gpt-4o-mini', 3, 0, 1), 2);
});
