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
}
