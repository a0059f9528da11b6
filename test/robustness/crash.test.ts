/**
 * Crash safety with real processes: many concurrent clients meter usage
 * against `allot serve`, the server is killed with SIGKILL mid-load and
 * restarted on the same database. Every acknowledged event must be there;
 * re-sending every event, acknowledged or not, must count each exactly once;
 * and `allot verify` must find the ledger whole.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { seedPlans } from '../support/harness.ts';
import { startServerProcess, type ServerProcess, type ServerProcessOptions } from '../support/processes.ts';
import { assertCliVerifies, assertVerified } from './support.ts';

const CLIENTS = 12;
const USERS = 8;
/** The server is killed once this many events were acknowledged. */
const KILL_AFTER = 150;

interface Sent {
  event_id: string;
  shop_id: string;
  user_id: string;
  tokens: number;
  enforce: boolean;
}

function eventFor(client: number, i: number): Sent {
  const n = client * 100_000 + i;
  return { event_id: `c${client}-${i}`, shop_id: 'crash', user_id: `u${n % USERS}`, tokens: 1 + ((n * 7919) % 997), enforce: n % 4 === 0 };
}

const cases: Array<{ name: string; dialect: 'sqlite' | 'postgres'; env?: Record<string, string> }> = [
  ...DIALECTS.map((dialect) => ({ name: dialect, dialect })),
  { name: 'sqlite with ALLOT_SQLITE_SYNC=normal', dialect: 'sqlite', env: { ALLOT_SQLITE_SYNC: 'normal' } },
];

for (const c of cases) {
  test(`${c.name}: kill -9 mid-load loses no acknowledged event, and a full re-send counts each exactly once`, async (t) => {
    const testDb = await openTestDb(c.dialect);
    t.after(testDb.cleanup);
    const options: ServerProcessOptions = { ...testDb.config, env: c.env };
    let server: ServerProcess = await startServerProcess(options);
    t.after(() => server.stop());
    await seedPlans({ api: server.api } as Parameters<typeof seedPlans>[0], ['enterprise']);
    for (let u = 0; u < USERS; u++) {
      const res = await server.api('PUT', `/v1/subscriptions/crash/u${u}`, { plan_id: 'enterprise' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }

    const sent = new Map<string, Sent>();
    const acknowledged = new Map<string, number>();
    let failedInFlight = 0;
    let killed: Promise<void> | undefined;
    const victim = server;
    await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; ; i++) {
        const event = eventFor(client, i);
        sent.set(event.event_id, event);
        try {
          const res = await victim.api('POST', '/v1/usage', event, { timeoutMs: 30_000 });
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.equal(res.body.duplicate, false);
          acknowledged.set(event.event_id, res.body.tokens);
        } catch (error) {
          if (victim.alive && !killed) throw error;
          failedInFlight++;
          return;
        }
        if (acknowledged.size >= KILL_AFTER) killed ??= victim.kill();
      }
    }));
    await killed;
    assert.equal(victim.alive, false);
    assert.ok(failedInFlight > 0, 'the server was killed while requests were in flight');

    server = await startServerProcess(options);
    const stored = new Map(
      (await testDb.db.all<{ event_id: string; tokens: number }>(`SELECT event_id, tokens FROM usage_events WHERE shop_id = 'crash'`))
        .map((e) => [e.event_id, Number(e.tokens)]),
    );
    for (const [eventId, tokens] of acknowledged) assert.equal(stored.get(eventId), tokens, `acknowledged event ${eventId} was lost`);
    for (const eventId of stored.keys()) assert.ok(sent.has(eventId));
    await assertVerified(testDb.db);
    const probe = [...acknowledged.keys()][0]!;
    const asked = await server.api('GET', `/v1/usage/${probe}?shop_id=crash`);
    assert.equal(asked.status, 200, 'a client can ask whether its event counted');

    // Re-send everything, acknowledged or not, with the same concurrency.
    const queue = [...sent.values()];
    let newlyCounted = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let event = queue.pop(); event; event = queue.pop()) {
        const res = await server.api('POST', '/v1/usage', event);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.tokens, event.tokens);
        if (stored.has(event.event_id)) assert.equal(res.body.duplicate, true, `${event.event_id} counted twice`);
        else newlyCounted++;
      }
    }));
    assert.equal(newlyCounted, sent.size - stored.size);

    let expectedTotal = 0;
    for (const event of sent.values()) expectedTotal += event.tokens;
    let total = 0;
    for (let u = 0; u < USERS; u++) {
      const sub = await server.api('GET', `/v1/subscriptions/crash/u${u}`);
      let expected = 0;
      for (const event of sent.values()) if (event.user_id === `u${u}`) expected += event.tokens;
      assert.equal(sub.body.used_tokens, expected, `u${u} counts each event exactly once`);
      total += sub.body.used_tokens;
    }
    assert.equal(total, expectedTotal);
    const count = await testDb.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM usage_events WHERE shop_id = 'crash'`);
    assert.equal(Number(count!.n), sent.size);
    await server.stop();
    await assertVerified(testDb.db);
    await assertCliVerifies(testDb.config);
  });
}
