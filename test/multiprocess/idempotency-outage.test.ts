/**
 * Idempotency-Key across a database outage: PostgreSQL is stopped while a
 * server is busy with keyed holds, commits, plan creations, API key creations
 * and plan changes (each request its own key), so requests break in every
 * step of their transaction, and are answered 503. Once PostgreSQL is back,
 * a retry of each key replays the answer of work that committed and does the
 * rest for the first time; no key is left "in flight" and none runs twice.
 *
 * Uses its own embedded PostgreSQL, since the test stops it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres/db.ts';
import { assertVerified } from '../robustness/support.ts';
import { prepareKeyedWork, retryAndCheck, send, type FirstTry } from '../robustness/keyed-work.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../support/postgres-server.ts';
import { sleep, startServerProcess, type ServerProcess } from '../support/processes.ts';

const PER_KIND = 30;
const CLIENTS = 12;
/** PostgreSQL is stopped once this many keyed requests were answered. */
const STOP_AFTER = 40;
/** How often each client sends while PostgreSQL shuts down. */
const STOPPING_PACE_MS = 25;

test('postgres: the database stops in the middle of keyed requests; each key\'s work is done once, and every retry replays or does it for the first time', async (t) => {
  let database: EmbeddedPostgresServer | undefined;
  let server: ServerProcess | undefined;
  let db: Db | undefined;
  t.after(async () => {
    await db?.close();
    await server?.stop();
    await database?.destroy();
  });
  database = await startEmbeddedPostgres();
  server = await startServerProcess({ databaseUrl: database.url });
  const api = server.api;
  const ops = await prepareKeyedWork(api, PER_KIND);

  const tries: FirstTry[] = [];
  const queue = [...ops].reverse();
  let answered = 0;
  let refused = 0;
  let stopped: Promise<void> | undefined;
  let stopMs = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let op = queue.pop(); op; op = queue.pop()) {
      const answer = await send(api, op);
      if (answer.status === 503) {
        assert.equal(answer.body.code, 'service_unavailable');
        refused++;
        tries.push({ op });
        continue;
      }
      tries.push({ op, answer });
      if (++answered >= STOP_AFTER && !stopped) {
        const began = performance.now();
        stopped = database!.stop().then(() => void (stopMs = performance.now() - began));
      }
      // Requests keep coming while PostgreSQL shuts down, so that some break in the middle.
      if (stopped) await sleep(STOPPING_PACE_MS);
    }
  }));
  await stopped;
  assert.ok(refused > 0, 'requests were refused while the database was down');

  await database.start();
  const deadline = Date.now() + 30_000;
  while ((await api('GET', '/readyz', undefined, { key: null })).status !== 200) {
    assert.ok(Date.now() < deadline, `the server did not get its database back\n${server.output()}`);
    await sleep(50);
  }
  db = await openPostgres(database.url);
  const tally = await retryAndCheck(api, db, tries);
  t.diagnostic(`${answered} answered, ${refused} refused with 503 (PostgreSQL took ${stopMs.toFixed(0)} ms to stop); on retry ${tally.replayed} replayed, ${tally.ranNow} did the work now`);
  await assertVerified(db);
});
