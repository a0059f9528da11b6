/**
 * Idempotency-Key across a crash: `allot serve` is killed with SIGKILL during
 * a burst of keyed holds, commits, plan creations, API key creations and plan
 * changes (each request its own key), and restarted on the same database.
 * Whatever instant the kill hit, each key's work is done once: a retry
 * replays the answer of work that committed, does work that did not for the
 * first time, and is never told "in flight" for work nobody is doing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import type { ApiResponse } from '../support/harness.ts';
import { MASTER_KEY, startServerProcess, type ServerProcess } from '../support/processes.ts';
import { prepareKeyedWork, retryAndCheck, type FirstTry, type KeyedOp } from './keyed-work.ts';
import { assertCliVerifies, assertVerified } from './support.ts';

const PER_KIND = 30;
const CLIENTS = 16;
/** The server is killed once this many keyed requests were answered. */
const KILL_AFTER = 50;

/** One keyed request that `signal` abandons: its answer, if one comes, is never read. */
async function sendOnce(url: string, op: KeyedOp, signal: AbortSignal): Promise<ApiResponse> {
  const res = await fetch(`${url}${op.path}`, {
    method: op.method,
    headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', 'idempotency-key': op.key },
    body: JSON.stringify(op.body),
    signal,
  });
  return { status: res.status, body: JSON.parse(await res.text()), headers: res.headers };
}

for (const dialect of DIALECTS) {
  test(`${dialect}: kill -9 during a burst of keyed requests: each key's work is done once, and every retry replays or does it for the first time`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    let server: ServerProcess = await startServerProcess(testDb.config);
    t.after(() => server.stop());
    const ops = await prepareKeyedWork(server.api, PER_KIND);

    // SIGKILL mid-burst, and every answer not yet read is lost with it: the work of a request cut off may
    // have committed (its answer was on its way) or not (it was running).
    const victim = server;
    const cut = new AbortController();
    const tries: FirstTry[] = [];
    const queue = [...ops].reverse();
    let answered = 0;
    let cutOff = 0;
    let killed: Promise<void> | undefined;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let op = queue.pop(); op; op = queue.pop()) {
        if (cut.signal.aborted) {
          tries.push({ op });
          continue;
        }
        try {
          tries.push({ op, answer: await sendOnce(victim.url, op, cut.signal) });
        } catch (error) {
          if (!cut.signal.aborted) throw error;
          cutOff++;
          tries.push({ op });
          continue;
        }
        if (++answered >= KILL_AFTER && !killed) {
          killed = victim.kill();
          cut.abort();
        }
      }
    }));
    await killed;
    assert.equal(victim.alive, false);
    assert.ok(cutOff > 0, 'the server was killed while keyed requests were in flight');

    server = await startServerProcess(testDb.config);
    const tally = await retryAndCheck(server.api, testDb.db, tries);
    t.diagnostic(`${answered} answered before the kill, ${cutOff} cut off; on retry ${tally.replayed} replayed, ${tally.ranNow} did the work now`);
    await assertVerified(testDb.db);
    await server.stop();
    await assertCliVerifies(testDb.config);
  });
}
