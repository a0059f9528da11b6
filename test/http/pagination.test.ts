/**
 * Cursors (SPEC §1 lists): each list pages on only with the cursors it gave
 * out, for the filter it gave them out for; any other cursor, another list's
 * included, is a 400 naming `cursor`; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertProblem, assertStatus, errorPaths } from '../support/problems.ts';

/** The next_cursor of the first page of one item. */
async function cursorOf(allot: Allot, list: string): Promise<string> {
  const res = await allot.api('GET', `${list}${list.includes('?') ? '&' : '?'}limit=1`);
  assertStatus(res, 200);
  assert.equal(typeof res.body.next_cursor, 'string', `${list} has a second page`);
  return res.body.next_cursor;
}

function withCursor(list: string, cursor: string): string {
  return `${list}${list.includes('?') ? '&' : '?'}limit=1&cursor=${cursor}`;
}

async function assertRefused(allot: Allot, list: string, cursor: string, from: string): Promise<void> {
  const res = await allot.api('GET', withCursor(list, cursor));
  assertProblem(res, 400, 'validation_error');
  assert.deepEqual(errorPaths(res), ['cursor'], `${list} refuses a cursor of ${from}`);
  assert.match(res.body.errors[0].message, /is not a cursor this list gave out/);
}

for (const dialect of DIALECTS) {
  test(`${dialect}: each list takes only its own cursors, for the filter they were made for`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    for (const user of ['u1', 'u2']) {
      assertStatus(await allot.api('PUT', `/v1/subscriptions/s1/${user}`, { plan_id: 'basic' }), 201);
      for (const n of [1, 2]) {
        assertStatus(await allot.api('POST', '/v1/usage', { event_id: `${user}-e${n}`, shop_id: 's1', user_id: user, tokens: n }), 200);
      }
    }
    await createShopKey(allot, 's1');
    await createShopKey(allot, 's2');
    await allot.setClock('2026-04-15T00:00:00.000Z'); // three closed periods each

    const lists = [
      '/v1/plans',
      '/v1/subscriptions',
      '/v1/usage',
      '/v1/api-keys',
      '/v1/subscriptions/s1/u1/periods',
    ];
    const cursors = new Map<string, string>();
    for (const list of lists) cursors.set(list, await cursorOf(allot, list));

    for (const list of lists) {
      assertStatus(await allot.api('GET', withCursor(list, cursors.get(list)!)), 200);
      for (const [other, cursor] of cursors) {
        if (other !== list) await assertRefused(allot, list, cursor, other);
      }
    }

    // The same list under another filter is another list.
    const filtered: Array<[string, string]> = [
      ['/v1/usage?user_id=u1', '/v1/usage?user_id=u2'],
      ['/v1/usage?shop_id=s1', '/v1/usage?shop_id=s1&from=2026-01-31'],
      ['/v1/subscriptions?shop_id=s1', '/v1/subscriptions?shop_id=s1&status=active'],
      ['/v1/plans', '/v1/plans?include_archived=false'],
      ['/v1/subscriptions/s1/u1/periods', '/v1/subscriptions/s1/u2/periods'],
    ];
    for (const [made, used] of filtered) {
      const cursor = await cursorOf(allot, made);
      assertStatus(await allot.api('GET', withCursor(made, cursor)), 200);
      await assertRefused(allot, used, cursor, made);
    }
  });

  test(`${dialect}: periods page on through periods that start in one instant`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    // With the clock frozen, each subscription begins and is canceled in the same instant.
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      const created = await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' });
      assertStatus(created, 201);
      ids.push(created.body.id);
      assertStatus(await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: false }), 200);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await allot.api('GET', `/v1/subscriptions/s1/u1/periods?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assertStatus(res, 200);
      const page: { data: Array<{ subscription_id: string }>; next_cursor: string | null } = res.body;
      seen.push(...page.data.map((p) => p.subscription_id));
      cursor = page.next_cursor;
    } while (cursor !== null && seen.length < 10);
    assert.deepEqual(seen, [...ids].reverse(), 'every period once, newest first');

    // A cursor made before the tie-breaker (the bare start) still pages on after that instant.
    await allot.setClock('2026-02-01T00:00:00.000Z');
    assertStatus(await allot.api('PUT', '/v1/subscriptions/s1/u1', { plan_id: 'basic' }), 201);
    assertStatus(await allot.api('POST', '/v1/subscriptions/s1/u1/cancel', { at_period_end: false }), 200);
    const first = await allot.api('GET', '/v1/subscriptions/s1/u1/periods?limit=1');
    const { list, after } = JSON.parse(Buffer.from(first.body.next_cursor, 'base64url').toString());
    const old = Buffer.from(JSON.stringify({ list, after: after[0] })).toString('base64url');
    const rest = await allot.api('GET', `/v1/subscriptions/s1/u1/periods?limit=10&cursor=${old}`);
    assertStatus(rest, 200);
    assert.equal(rest.body.data.length, 3);
  });
}
