/**
 * Rollover from several processes at once (background sweeps, the renewals
 * endpoint, and lazy rollover on requests) closes each period exactly once:
 * one summary per period with its own usage, one plan-history entry per
 * scheduled change, and no usage of the new period lost to a late roller.
 *
 * Each server process has its own frozen test clock; both are moved together.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestDb } from '../support/dialects.ts';
import { plans } from '../support/harness.ts';
import { sleep, startCluster, type ServerProcess } from '../support/processes.ts';

const START = '2025-01-31T12:00:00.000Z';
const USERS = Array.from({ length: 30 }, (_, i) => `u${i}`);
/** Every fourth user moves to pro at the end of the first period. */
const switches = (i: number): boolean => i % 4 === 0;

async function both(servers: ServerProcess[], instant: string): Promise<void> {
  await Promise.all(servers.map((server) => server.setClock(instant)));
}

/** Subscriptions at START, usage of 100 + i in the first period, and a scheduled change for some. */
async function seed([a, b]: ServerProcess[]): Promise<void> {
  for (const plan of [plans.basic, plans.pro]) assert.equal((await a!.api('POST', '/v1/plans', plan)).status, 201);
  await Promise.all(
    USERS.map(async (user, i) => {
      const server = i % 2 === 0 ? a! : b!;
      const put = await server.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: 'basic' });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const usage = await server.api('POST', '/v1/usage', { event_id: `p1-${user}`, shop_id: 'shop1', user_id: user, tokens: 100 + i });
      assert.equal(usage.status, 200, JSON.stringify(usage.body));
      if (switches(i)) {
        const change = await server.api('PUT', `/v1/subscriptions/shop1/${user}`, { plan_id: 'pro', when: 'period_end' });
        assert.equal(change.status, 200, JSON.stringify(change.body));
      }
    }),
  );
}

/** Usage of 10 + i in the second period, sent while rollers race on both servers. */
function secondPeriodUsage([a, b]: ServerProcess[]): Promise<void> {
  return Promise.all(
    USERS.map(async (user, i) => {
      const usage = await (i % 2 === 0 ? b! : a!).api('POST', '/v1/usage', { event_id: `p2-${user}`, shop_id: 'shop1', user_id: user, tokens: 10 + i });
      assert.equal(usage.status, 200, JSON.stringify(usage.body));
    }),
  ).then(() => undefined);
}

const DUE = `SELECT COUNT(*) AS n FROM subscriptions WHERE status IN ('active', 'suspended') AND current_period_end <= ?`;

/** Polls the database itself (a read through the API would roll lazily) until nothing is due at `instant`. */
async function waitUntilRolled(testDb: TestDb, instant: string, servers: ServerProcess[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const row = await testDb.db.one<{ n: number }>(DUE, [Date.parse(instant)]);
    if (row?.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${row?.n} subscriptions still due after 30 s\n${servers.map((s) => s.output()).join('\n')}`);
    await sleep(100);
  }
}

/** Four closed periods per subscription, each with its own usage and plan, and a fresh fifth period. */
async function assertRolledOnce(testDb: TestDb, servers: ServerProcess[]): Promise<void> {
  const boundaries = ['2025-01-31', '2025-02-28', '2025-03-31', '2025-04-30', '2025-05-31'].map((d) => Date.parse(`${d}T12:00:00.000Z`));
  for (const [i, user] of USERS.entries()) {
    const sub = await testDb.db.one<{ id: string; used_tokens: number; current_period_start: number; current_period_end: number; plan_id: string }>(
      'SELECT id, used_tokens, current_period_start, current_period_end, plan_id FROM subscriptions WHERE shop_id = ? AND user_id = ?',
      ['shop1', user],
    );
    assert.ok(sub);
    const later = switches(i) ? 'pro' : 'basic';
    assert.equal(sub.plan_id, later, user);
    assert.equal(sub.current_period_start, boundaries[4]);
    assert.equal(sub.current_period_end, Date.parse('2025-06-30T12:00:00.000Z'));
    assert.equal(sub.used_tokens, 0, `${user}: new period's counters`);
    const summaries = await testDb.db.all<{ period_start: number; period_end: number; plan_id: string; used_tokens: number; queries: number }>(
      'SELECT period_start, period_end, plan_id, used_tokens, queries FROM period_summaries WHERE subscription_id = ? ORDER BY period_start',
      [sub.id],
    );
    assert.deepEqual(
      summaries,
      [0, 1, 2, 3].map((k) => ({
        period_start: boundaries[k],
        period_end: boundaries[k + 1],
        plan_id: k === 0 ? 'basic' : later,
        used_tokens: k === 0 ? 100 + i : k === 1 ? 10 + i : 0,
        queries: k < 2 ? 1 : 0,
      })),
      user,
    );
    const history = await testDb.db.all<{ plan_id: string; change_reason: string }>(
      'SELECT plan_id, change_reason FROM plan_history WHERE subscription_id = ? ORDER BY seq',
      [sub.id],
    );
    assert.deepEqual(history, switches(i) ? [{ plan_id: 'basic', change_reason: 'scheduled_change' }] : [], user);
  }
  // Either server reads the same periods.
  for (const [k, server] of servers.entries()) {
    const periods = await server.api('GET', `/v1/subscriptions/shop1/${USERS[k]}/periods`);
    assert.equal(periods.status, 200, JSON.stringify(periods.body));
    assert.equal(periods.body.data.length, 4);
  }
}

test('postgres: two background sweepers roll the same periods exactly once', async (t) => {
  const { servers, testDb } = await startCluster(t, 'postgres', 2, { clock: START, sweepSeconds: 0.2 });
  assert.ok(testDb);
  await seed(servers);

  // The first period ends; sweeps on both servers and lazy rollover on the
  // second period's usage all race for the same subscriptions.
  await both(servers, '2025-03-15T00:00:00.000Z');
  await secondPeriodUsage(servers);
  await waitUntilRolled(testDb, '2025-03-15T00:00:00.000Z', servers);

  // Three more periods end with no request at all: only the sweeps roll them.
  await both(servers, '2025-06-01T00:00:00.000Z');
  await waitUntilRolled(testDb, '2025-06-01T00:00:00.000Z', servers);
  await assertRolledOnce(testDb, servers);
});

test('postgres: renewals run on both servers at once roll each period exactly once', async (t) => {
  const { servers, testDb } = await startCluster(t, 'postgres', 2, { clock: START });
  assert.ok(testDb);
  const [a, b] = servers as [ServerProcess, ServerProcess];
  await seed(servers);

  await both(servers, '2025-03-15T00:00:00.000Z');
  const [first] = await Promise.all([
    Promise.all([a, b, a, b].map((server) => server.api('POST', '/v1/renewals/run'))),
    secondPeriodUsage(servers),
  ]);
  for (const run of first) assert.equal(run.status, 200, JSON.stringify(run.body));
  await waitUntilRolled(testDb, '2025-03-15T00:00:00.000Z', servers);

  await both(servers, '2025-06-01T00:00:00.000Z');
  const runs = await Promise.all([a, b, a, b].map((server) => server.api('POST', '/v1/renewals/run')));
  for (const run of runs) assert.equal(run.status, 200, JSON.stringify(run.body));
  // Each run reports what was due when it looked; together they saw every subscription.
  assert.ok(runs.every((run) => run.body.subscriptions_rolled <= USERS.length), JSON.stringify(runs.map((r) => r.body)));
  assert.ok(runs.some((run) => run.body.subscriptions_rolled > 0));
  assert.deepEqual(await testDb.db.one(DUE, [Date.parse('2025-06-01T00:00:00.000Z')]), { n: 0 });
  const again = await b.api('POST', '/v1/renewals/run');
  assert.equal(again.body.subscriptions_rolled, 0);
  await assertRolledOnce(testDb, servers);
});
