/**
 * Random interleavings of usage, enforced usage, holds, commits, releases,
 * plan changes, suspensions, clock moves (rollovers) and renewal sweeps, sent
 * as real concurrent HTTP requests. After every batch and every run:
 * - `verify` finds no broken invariant (counters = events, rollups = events,
 *   summaries = events, holds = reservations, one live subscription);
 * - with only enforced paths, used + reserved never exceeds the allowance;
 * - every event counts exactly once, and summaries plus current usage sum to
 *   all events;
 * - no subscription has more active holds than the cap.
 * Runs are generated from a fixed seed (ALLOT_RACES_SEED to vary it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DAY_MS } from '../../src/domain/clock.ts';
import { DIALECTS } from '../support/dialects.ts';
import { startAllot, type Allot } from '../support/harness.ts';
import { assertVerified } from './support.ts';

const SEED = Number(process.env.ALLOT_RACES_SEED ?? 424242);
const RUNS = Number(process.env.ALLOT_RACES_RUNS ?? 20);

const USERS = ['u1', 'u2'] as const;
const MAX_HOLDS = 2;
const PLANS = [
  { id: 'tiny', display_name: 'Tiny', allocated_tokens: 600, price_minor: 100, currency: 'USD', billing_cycle: 'monthly', tier: 1 },
  { id: 'small', display_name: 'Small', allocated_tokens: 1000, price_minor: 200, currency: 'USD', billing_cycle: 'monthly', tier: 2 },
  { id: 'big', display_name: 'Big', allocated_tokens: 1500, price_minor: 300, currency: 'USD', billing_cycle: 'monthly', tier: 3 },
] as const;

type Op =
  | { kind: 'usage'; event: number; enforce: boolean }
  | { kind: 'hold'; hold: number }
  | { kind: 'commit'; hold: number; percent: number; event: boolean }
  | { kind: 'release'; hold: number }
  | { kind: 'plan'; user: number; plan: number; atPeriodEnd: boolean }
  | { kind: 'suspend' | 'resume'; user: number }
  | { kind: 'clock'; minutes: number }
  | { kind: 'renew' }
  | { kind: 'check'; user: number };

interface Run {
  /** Only enforced usage, commits within their hold and upgrades: the allowance is never exceeded. */
  strict: boolean;
  batches: Op[][];
}

const eventTokens = (e: number) => 60 + ((e * 37) % 180);
const eventUser = (e: number) => USERS[e % USERS.length]!;
const holdTokens = (h: number) => 60 + ((h * 53) % 240);
const holdUser = (h: number) => USERS[(h >> 1) % USERS.length]!;

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('usage' as const), event: fc.nat(19), enforce: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('hold' as const), hold: fc.nat(5) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), hold: fc.nat(5), percent: fc.integer({ min: 0, max: 150 }), event: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), hold: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('plan' as const), user: fc.nat(1), plan: fc.nat(2), atPeriodEnd: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('suspend' as const, 'resume' as const), user: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clock' as const), minutes: fc.oneof(fc.integer({ min: 1, max: 90 }), fc.integer({ min: 10 * 1440, max: 45 * 1440 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'renew' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('check' as const), user: fc.nat(1) }) },
);

const runArb: fc.Arbitrary<Run> = fc.record({
  strict: fc.boolean(),
  batches: fc.array(fc.array(op, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 8 }),
});

/** What the runner saw, to check exactly-once afterwards. */
interface Seen {
  firstCounts: Map<string, number>;
  acknowledged: Set<string>;
  commits: Map<number, number>;
  problems: string[];
}

const ALLOWED: Record<Op['kind'], number[]> = {
  usage: [200, 409, 429],
  hold: [201, 409, 422, 429],
  commit: [200, 404, 409],
  release: [200, 404, 409],
  plan: [200],
  suspend: [200],
  resume: [200],
  clock: [200],
  renew: [200],
  check: [200],
};

async function perform(allot: Allot, shop: string, run: Run, o: Op, stale: Set<number>, seen: Seen): Promise<number | undefined> {
  let res;
  switch (o.kind) {
    case 'usage': {
      const enforce = run.strict || o.enforce;
      const eventId = `e${o.event}${enforce ? 'x' : 'o'}`;
      res = await allot.api('POST', '/v1/usage', { event_id: eventId, shop_id: shop, user_id: eventUser(o.event), tokens: eventTokens(o.event), enforce });
      if (res.status === 200) {
        seen.acknowledged.add(eventId);
        if (!res.body.duplicate) seen.firstCounts.set(eventId, (seen.firstCounts.get(eventId) ?? 0) + 1);
        if (enforce && !res.body.duplicate && res.body.used_tokens + res.body.reserved_tokens > res.body.allocated_tokens) {
          seen.problems.push(`enforced usage ${eventId} was accepted past the allowance: ${JSON.stringify(res.body)}`);
        }
      }
      break;
    }
    case 'hold':
      res = await allot.api('POST', '/v1/reservations', {
        reservation_id: `h${o.hold}`, shop_id: shop, user_id: holdUser(o.hold), tokens: holdTokens(o.hold), ttl_seconds: 600 + (o.hold % 3) * 1200,
      });
      break;
    case 'commit': {
      if (run.strict && stale.has(o.hold)) return undefined;
      const percent = run.strict ? Math.min(o.percent, 100) : o.percent;
      const tokens = Math.floor((holdTokens(o.hold) * percent) / 100);
      res = await allot.api('POST', `/v1/reservations/h${o.hold}/commit`, { tokens, shop_id: shop, ...(o.event ? { event_id: `c${o.hold}` } : {}) });
      if (res.status === 200 && !res.body.duplicate) seen.commits.set(o.hold, (seen.commits.get(o.hold) ?? 0) + 1);
      if (res.status === 200) seen.acknowledged.add(res.body.event_id);
      break;
    }
    case 'release':
      res = await allot.api('POST', `/v1/reservations/h${o.hold}/release`, { shop_id: shop });
      break;
    case 'plan': {
      const current = run.strict ? await allot.api('GET', `/v1/subscriptions/${shop}/${USERS[o.user]}`) : undefined;
      const plan = PLANS[o.plan]!;
      // Strict runs only upgrade: a downgrade below usage legitimately leaves used above the allowance.
      if (current && plan.allocated_tokens < current.body.allocated_tokens) return undefined;
      res = await allot.api('PUT', `/v1/subscriptions/${shop}/${USERS[o.user]}`, { plan_id: plan.id, when: o.atPeriodEnd && !run.strict ? 'period_end' : 'now' });
      break;
    }
    case 'suspend':
    case 'resume':
      res = await allot.api('POST', `/v1/subscriptions/${shop}/${USERS[o.user]}/${o.kind}`);
      break;
    case 'clock': {
      const now = Date.parse((await allot.api('GET', '/v1/test-clock')).body.now);
      res = await allot.api('PUT', '/v1/test-clock', { now: new Date(now + o.minutes * 60_000).toISOString() });
      if (res.status === 400) return undefined; // another clock move went further meanwhile
      break;
    }
    case 'renew':
      res = await allot.api('POST', '/v1/renewals/run');
      break;
    case 'check':
      res = await allot.api('POST', '/v1/check', { shop_id: shop, user_id: USERS[o.user], tokens: 100 });
      break;
  }
  if (!ALLOWED[o.kind].includes(res.status)) seen.problems.push(`${JSON.stringify(o)} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.status;
}

async function checkAllowance(allot: Allot, shop: string, where: string): Promise<void> {
  const { db } = allot.testDb;
  const subs = await db.all<{ id: string; used_tokens: number; reserved_tokens: number; allocated_tokens: number }>(
    'SELECT id, used_tokens, reserved_tokens, allocated_tokens FROM subscriptions WHERE shop_id = ?', [shop],
  );
  for (const s of subs) {
    assert.ok(s.used_tokens + s.reserved_tokens <= s.allocated_tokens, `${where}: used + reserved over the allowance: ${JSON.stringify(s)}`);
  }
  const over = await db.all(
    `SELECT p.* FROM period_summaries p JOIN subscriptions s ON s.id = p.subscription_id WHERE s.shop_id = ? AND p.used_tokens > p.allocated_tokens`, [shop],
  );
  assert.deepEqual(over, [], `${where}: a closed period used more than its allowance`);
}

for (const dialect of DIALECTS) {
  test(`${dialect}: random concurrent interleavings keep every invariant (${RUNS} runs)`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z', rules: { maxActiveHolds: MAX_HOLDS } });
    t.after(allot.close);
    for (const plan of PLANS) assert.equal((await allot.api('POST', '/v1/plans', plan)).status, 201);
    const { db } = allot.testDb;
    let runNo = 0;

    await fc.assert(
      fc.asyncProperty(runArb, async (run) => {
        const shop = `race${++runNo}`;
        for (const user of USERS) assert.equal((await allot.api('PUT', `/v1/subscriptions/${shop}/${user}`, { plan_id: 'tiny' })).status, 201);
        const seen: Seen = { firstCounts: new Map(), acknowledged: new Set(), commits: new Map(), problems: [] };
        const created = new Set<number>();
        const stale = new Set<number>();
        for (const [i, batch] of run.batches.entries()) {
          // Commits and releases mostly aim at holds placed in earlier batches (the k-th one), sometimes at one placed concurrently.
          const known = [...created];
          const aimed = batch.map((o) => ((o.kind === 'commit' || o.kind === 'release') && known.length && o.hold % 3 !== 0
            ? { ...o, hold: known[o.hold % known.length]! } : o));
          const concurrent = run.strict ? aimed.filter((o) => o.kind !== 'clock') : aimed;
          const statuses = await Promise.all(concurrent.map((o) => perform(allot, shop, run, o, stale, seen)));
          concurrent.forEach((o, k) => {
            if (o.kind === 'hold' && statuses[k] === 201) created.add(o.hold);
          });
          if (run.strict) {
            // Strict runs move the clock between batches; holds it may have expired are not committed (an expired commit may go over).
            for (const o of batch) if (o.kind === 'clock') {
              await perform(allot, shop, run, o, stale, seen);
              for (const h of created) stale.add(h);
            }
            await checkAllowance(allot, shop, `run ${shop} batch ${i}`);
          }
          await assertVerified(db);
          const crowded = await db.all(
            `SELECT subscription_id, COUNT(*) AS n FROM reservations WHERE shop_id = ? AND status = 'active' GROUP BY subscription_id HAVING COUNT(*) > ?`,
            [shop, MAX_HOLDS],
          );
          assert.deepEqual(crowded, [], `batch ${i}: more active holds than ALLOT_MAX_ACTIVE_HOLDS`);
        }
        assert.deepEqual(seen.problems, []);

        for (const [eventId, firsts] of seen.firstCounts) assert.equal(firsts, 1, `event ${eventId} was counted as new ${firsts} times`);
        for (const [hold, commits] of seen.commits) assert.equal(commits, 1, `hold h${hold} was committed ${commits} times`);
        const stored = await db.all<{ event_id: string }>('SELECT event_id FROM usage_events WHERE shop_id = ?', [shop]);
        assert.deepEqual(new Set(stored.map((e) => e.event_id)), seen.acknowledged, 'stored events = acknowledged events');
        const totals = await db.one<{ events: number; summaries: number; current: number }>(
          `SELECT (SELECT COALESCE(SUM(tokens), 0) FROM usage_events WHERE shop_id = ?) AS events,
                  (SELECT COALESCE(SUM(p.used_tokens), 0) FROM period_summaries p JOIN subscriptions s ON s.id = p.subscription_id WHERE s.shop_id = ?) AS summaries,
                  (SELECT COALESCE(SUM(used_tokens), 0) FROM subscriptions WHERE shop_id = ?) AS current`,
          [shop, shop, shop],
        );
        assert.equal(Number(totals!.summaries) + Number(totals!.current), Number(totals!.events), 'period summaries + current usage = all events');
        // Leave the next run a clock that has not run far ahead of its anchor.
        await allot.api('POST', '/v1/renewals/run');
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );
    const clock = Date.parse((await allot.api('GET', '/v1/test-clock')).body.now);
    assert.ok(clock > Date.parse('2026-01-31T12:00:00.000Z') + DAY_MS, 'the runs moved the clock across periods');
    const rolled = await db.one<{ n: number }>('SELECT COUNT(*) AS n FROM period_summaries');
    assert.ok(Number(rolled!.n) > 0, 'the runs rolled periods over');
    await assertVerified(db);
  });
}
