/**
 * PostgreSQL goes away while a server process is serving: requests answer
 * 503 `service_unavailable` at once instead of hanging, /readyz says so, and
 * when the database is back the same process serves again, with every
 * acknowledged usage event stored exactly once.
 *
 * Uses its own embedded PostgreSQL, since the test stops it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plans } from '../support/harness.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../support/postgres-server.ts';
import { sleep, startServerProcess, type ServerProcess } from '../support/processes.ts';

/** Hang guard: an answer slower than this fails the test. The issue asks for "a second or two". */
const ANSWER_WITHIN_MS = 5_000;
const WRITERS = 4;

type Phase = 'before' | 'down' | 'back';
interface Sent {
  event_id: string;
  tokens: number;
  phase: Phase;
  status: number;
  code?: string;
  ms: number;
  /** performance.now() when the answer came. */
  at: number;
}

async function until(what: string, condition: () => boolean, timeoutMs: number, server: ServerProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${server.output()}`);
    await sleep(20);
  }
}

test('postgres: the database stops while serving, then comes back; nothing acknowledged is lost', async (t) => {
  let database: EmbeddedPostgresServer | undefined;
  let server: ServerProcess | undefined;
  t.after(async () => {
    await server?.stop();
    await database?.destroy();
  });
  database = await startEmbeddedPostgres();
  server = await startServerProcess({ databaseUrl: database.url });
  const api = server.api;
  assert.equal((await api('POST', '/v1/plans', plans.enterprise)).status, 201);
  assert.equal((await api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'enterprise' })).status, 201);

  let phase: Phase = 'before';
  let writing = true;
  const sent: Sent[] = [];
  const failures: string[] = [];
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    for (let n = 0; writing; n++) {
      const event_id = `w${w}-${n}`;
      const tokens = 1 + ((w * 7 + n) % 13);
      const startedIn = phase;
      const started = performance.now();
      try {
        const r = await api('POST', '/v1/usage', { event_id, shop_id: 'shop1', user_id: 'u1', tokens }, { timeoutMs: ANSWER_WITHIN_MS });
        sent.push({ event_id, tokens, phase: startedIn, status: r.status, code: r.body?.code, ms: performance.now() - started, at: performance.now() });
        if (r.status !== 200 && !(r.status === 503 && r.body?.code === 'service_unavailable')) {
          failures.push(`${event_id}: ${r.status} ${JSON.stringify(r.body)}`);
        }
      } catch (error) {
        failures.push(`${event_id}: ${String(error)}`);
        sent.push({ event_id, tokens, phase: startedIn, status: 0, ms: performance.now() - started, at: performance.now() });
      }
      // A down database answers at once: do not spin.
      await sleep(10);
    }
  });
  const acked = (p?: Phase): Sent[] => sent.filter((s) => s.status === 200 && (p === undefined || s.phase === p));

  let stoppedAt = 0;
  let restartedAt = 0;
  let readyMs = 0;
  let recoveredMs = 0;
  try {
    await until('acknowledged usage before the outage', () => acked('before').length >= 40, 20_000, server);
    await database.stop();
    phase = 'down';
    stoppedAt = performance.now();

    await until(
      'requests during a two-second outage',
      () => sent.filter((s) => s.phase === 'down').length >= 20 && performance.now() - stoppedAt > 2_000,
      20_000,
      server,
    );
    const readyStarted = performance.now();
    const ready = await api('GET', '/readyz', undefined, { key: null, timeoutMs: ANSWER_WITHIN_MS });
    readyMs = performance.now() - readyStarted;
    assert.equal(ready.status, 503, JSON.stringify(ready.body));
    assert.equal(ready.body.code, 'service_unavailable');
    assert.equal((await api('GET', '/healthz', undefined, { key: null })).status, 200);
    const read = await api('GET', '/v1/subscriptions/shop1/u1', undefined, { timeoutMs: ANSWER_WITHIN_MS });
    assert.equal(read.status, 503, JSON.stringify(read.body));
    assert.equal(read.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(read.body.code, 'service_unavailable');
    assert.ok(!JSON.stringify(read.body).includes('    at '), 'no stack trace in a 5xx');

    restartedAt = performance.now();
    await database.start();
    phase = 'back';
    await until('usage acknowledged after the database came back', () => acked('back').length >= 1, 20_000, server);
    recoveredMs = performance.now() - restartedAt;
    await until('more usage after the database came back', () => acked('back').length >= 40, 20_000, server);
  } finally {
    // A failed wait must not leave the writers running after the test.
    writing = false;
    await Promise.all(writers);
  }

  assert.deepEqual(failures, []);
  // Requests that started and ended while the database was down (one in
  // flight when it came back may rightly succeed).
  const down = sent.filter((s) => s.phase === 'down' && s.at < restartedAt);
  assert.ok(down.every((s) => s.status === 503), JSON.stringify(down.filter((s) => s.status !== 503)));
  const slowest = Math.max(...down.map((s) => s.ms));
  assert.ok(slowest < ANSWER_WITHIN_MS, `a request during the outage took ${slowest} ms`);
  t.diagnostic(
    `outage: ${down.length} requests, slowest 503 ${slowest.toFixed(0)} ms, /readyz 503 in ${readyMs.toFixed(0)} ms; ` +
      `served again ${recoveredMs.toFixed(0)} ms after PostgreSQL's restart began (down for ${(restartedAt - stoppedAt).toFixed(0)} ms)`,
  );

  // The same process, never restarted, serves again.
  assert.ok(server.alive);
  assert.deepEqual((await api('GET', '/readyz', undefined, { key: null })).body, { status: 'ready', database: 'postgres' });

  // Every acknowledged event is stored as answered.
  for (const s of acked()) {
    const stored = await api('GET', `/v1/usage/${s.event_id}?shop_id=shop1`);
    assert.equal(stored.status, 200, `acknowledged ${s.event_id} is missing: ${JSON.stringify(stored.body)}`);
    assert.equal(stored.body.tokens, s.tokens);
  }
  // An event answered 503 may or may not have been stored: retrying it counts it exactly once.
  for (const s of sent.filter((x) => x.status !== 200)) {
    const retried = await api('POST', '/v1/usage', { event_id: s.event_id, shop_id: 'shop1', user_id: 'u1', tokens: s.tokens });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
  }
  const total = sent.reduce((sum, s) => sum + s.tokens, 0);
  const sub = await api('GET', '/v1/subscriptions/shop1/u1');
  assert.equal(sub.body.used_tokens, total);
  const status = await api('GET', '/v1/subscriptions/shop1/u1/status?include_history=true');
  assert.equal(status.body.usage_history.total_queries, sent.length);
});
