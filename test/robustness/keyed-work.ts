/**
 * A burst of requests that each carry their own Idempotency-Key, of every kind
 * that creates or changes something (holds, commits, plans, API keys,
 * subscription changes), for tests that cut the server or its database off in
 * the middle of it and then retry every key. What must hold afterwards: each
 * key's work was done exactly once, a retry of a key whose work committed
 * replays its answer, a retry of a key whose work did not commit does it for
 * the first time, and every later retry replays.
 */
import assert from 'node:assert/strict';
import type { Db } from '../../src/store/db.ts';
import { plans, type ApiResponse, type CallOptions } from '../support/harness.ts';

type Api = <T = any>(method: string, path: string, body?: unknown, options?: CallOptions & { timeoutMs?: number }) => Promise<ApiResponse<T>>;

const SHOP = 'idem';

type Kind = 'hold' | 'commit' | 'plan' | 'api-key' | 'plan-change';

export interface KeyedOp {
  kind: Kind;
  key: string;
  method: 'POST' | 'PUT';
  path: string;
  body: unknown;
  /** The status of the work done. */
  status: number;
  /** How many times the work shows in the database (exactly once is 1). */
  effects(db: Db): Promise<number>;
}

export interface FirstTry {
  op: KeyedOp;
  /** The answer, or undefined when none came (the server or its database went away). */
  answer?: ApiResponse;
}

async function count(db: Db, sql: string, params: unknown[]): Promise<number> {
  return Number((await db.one<{ n: number | string }>(sql, params))?.n ?? 0);
}

function ops(perKind: number): KeyedOp[] {
  const all: KeyedOp[] = [];
  for (let i = 0; i < perKind; i++) {
    all.push(
      {
        kind: 'hold', key: `hold-${i}`, method: 'POST', path: '/v1/reservations', status: 201,
        body: { shop_id: SHOP, user_id: `h${i}`, tokens: 10 + i },
        effects: (db) => count(db, 'SELECT COUNT(*) AS n FROM reservations WHERE shop_id = ? AND user_id = ?', [SHOP, `h${i}`]),
      },
      {
        kind: 'commit', key: `commit-${i}`, method: 'POST', path: `/v1/reservations/r-c${i}/commit`, status: 200,
        body: { tokens: 5 + i, shop_id: SHOP },
        effects: (db) => count(db, 'SELECT COUNT(*) AS n FROM usage_events WHERE shop_id = ? AND reservation_id = ?', [SHOP, `r-c${i}`]),
      },
      {
        kind: 'plan', key: `plan-${i}`, method: 'POST', path: '/v1/plans', status: 201,
        body: { ...plans.basic, id: `p-${i}`, display_name: `Plan ${i}` },
        effects: (db) => count(db, 'SELECT COUNT(*) AS n FROM plans WHERE id = ?', [`p-${i}`]),
      },
      {
        kind: 'api-key', key: `api-key-${i}`, method: 'POST', path: '/v1/api-keys', status: 201,
        body: { name: `key-${i}`, role: 'shop', shop_id: SHOP },
        effects: (db) => count(db, 'SELECT COUNT(*) AS n FROM api_keys WHERE name = ?', [`key-${i}`]),
      },
      {
        kind: 'plan-change', key: `plan-change-${i}`, method: 'PUT', path: `/v1/subscriptions/${SHOP}/s${i}`, status: 200,
        body: { plan_id: 'pro' },
        // A change now closes the old plan's tenure in the plan history: one row per change.
        effects: (db) => count(db,
          'SELECT COUNT(*) AS n FROM plan_history h JOIN subscriptions s ON s.id = h.subscription_id WHERE s.shop_id = ? AND s.user_id = ?',
          [SHOP, `s${i}`]),
      },
    );
  }
  return all;
}

/** Creates what the burst works on: plans, subscriptions, and the holds it commits. Answers the burst's requests. */
export async function prepareKeyedWork(api: Api, perKind: number): Promise<KeyedOp[]> {
  const ok = async (method: string, path: string, body: unknown, status: number) => {
    const res = await api(method, path, body);
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
  };
  for (const plan of [plans.basic, plans.pro, plans.enterprise]) await ok('POST', '/v1/plans', plan, 201);
  for (let i = 0; i < perKind; i++) {
    await ok('PUT', `/v1/subscriptions/${SHOP}/h${i}`, { plan_id: 'enterprise' }, 201);
    await ok('PUT', `/v1/subscriptions/${SHOP}/c${i}`, { plan_id: 'enterprise' }, 201);
    await ok('POST', '/v1/reservations', { reservation_id: `r-c${i}`, shop_id: SHOP, user_id: `c${i}`, tokens: 100 }, 201);
    await ok('PUT', `/v1/subscriptions/${SHOP}/s${i}`, { plan_id: 'basic' }, 201);
  }
  return ops(perKind);
}

export function send(api: Api, op: KeyedOp, timeoutMs?: number): Promise<ApiResponse> {
  return api(op.method, op.path, op.body, { headers: { 'idempotency-key': op.key }, ...(timeoutMs ? { timeoutMs } : {}) });
}

function replayed(res: ApiResponse): boolean {
  return res.headers.get('idempotent-replayed') === 'true';
}

/**
 * Retries every key twice, after the cut: checks the first tries' answers,
 * that each retry replays or does the work for the first time, and that each
 * key's work shows exactly once. Answers how many retries replayed and how
 * many did the work.
 */
export async function retryAndCheck(api: Api, db: Db, tries: FirstTry[], clients = 8): Promise<{ replayed: number; ranNow: number }> {
  for (const { op, answer } of tries) {
    if (answer) assert.equal(answer.status, op.status, `${op.key} before the cut: ${JSON.stringify(answer.body)}`);
  }
  const doneBefore = new Map<string, number>();
  for (const { op } of tries) doneBefore.set(op.key, await op.effects(db));
  for (const { op, answer } of tries) {
    assert.ok(doneBefore.get(op.key)! <= 1, `${op.key} did its work ${doneBefore.get(op.key)} times before the retry`);
    if (answer) assert.equal(doneBefore.get(op.key), 1, `${op.key} was answered but its work is not stored`);
  }

  const retries = new Map<string, ApiResponse>();
  const queue = [...tries];
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let t = queue.pop(); t; t = queue.pop()) retries.set(t.op.key, await send(api, t.op));
  }));

  const tally = { replayed: 0, ranNow: 0 };
  for (const { op, answer } of tries) {
    const retry = retries.get(op.key)!;
    const what = `${op.key} (answered before the cut: ${answer ? 'yes' : 'no'}, work stored: ${doneBefore.get(op.key)})`;
    assert.equal(retry.status, op.status, `${what}: the retry answered ${JSON.stringify(retry.body)}`);
    if (doneBefore.get(op.key) === 1) {
      assert.ok(replayed(retry), `${what}: the retry ran again instead of replaying`);
      tally.replayed++;
    } else {
      assert.ok(!replayed(retry), `${what}: the retry replayed an answer whose work is not stored`);
      tally.ranNow++;
    }
    if (answer) assert.deepEqual(retry.body, answer.body, `${what}: the replay differs from the first answer`);
    assert.equal(await op.effects(db), 1, `${what}: the work shows ${await op.effects(db)} times after the retry`);
  }

  // And every key now replays that answer.
  for (const { op } of tries) {
    const again = await send(api, op);
    assert.equal(again.status, op.status);
    assert.ok(replayed(again), `${op.key}: a second retry did not replay`);
    assert.deepEqual(again.body, retries.get(op.key)!.body);
    assert.equal(await op.effects(db), 1);
  }
  const unanswered = await db.all("SELECT scope, key FROM idempotency_keys WHERE state <> 'done'");
  assert.deepEqual(unanswered, [], 'no key is left in flight');
  return tally;
}
