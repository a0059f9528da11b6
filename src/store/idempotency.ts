/**
 * SQL for Idempotency-Key claims and their stored answers. A key is claimed
 * (`in_flight`) and answered (`done`) inside the transaction of its work, so
 * a committed row is always `done`; `allot verify` checks that.
 */
import type { Queryable } from './db.ts';

export interface IdempotencyRow {
  request_hash: string;
  state: 'in_flight' | 'done';
  status_code: number | null;
  response: string | null;
  created_at: number;
}

/** The key a request names, in its caller's namespace, and the hash of the request. */
export interface KeyedRequest {
  scope: string;
  key: string;
  hash: string;
}

/**
 * Claims the key for a request; answers false when it is already taken. On
 * PostgreSQL a claim another transaction holds makes this wait until that
 * transaction ends: then it answers false if that one committed, and claims
 * the key if it rolled back.
 */
export async function insertClaim(q: Queryable, request: KeyedRequest, now: number): Promise<boolean> {
  const inserted = await q.run(
    `INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) VALUES (?, ?, ?, 'in_flight', ?)
     ON CONFLICT (scope, key) DO NOTHING`,
    [request.scope, request.key, request.hash, now],
  );
  return inserted === 1;
}

/** Stores the answer of a request whose key was not claimed (its work ran in transactions of its own, or rolled back). */
export async function insertAnswer(q: Queryable, request: KeyedRequest, statusCode: number, body: string, now: number): Promise<void> {
  await q.run(
    `INSERT INTO idempotency_keys (scope, key, request_hash, state, status_code, response, created_at) VALUES (?, ?, ?, 'done', ?, ?, ?)
     ON CONFLICT (scope, key) DO NOTHING`,
    [request.scope, request.key, request.hash, statusCode, body, now],
  );
}

export async function findClaim(q: Queryable, scope: string, key: string): Promise<IdempotencyRow | undefined> {
  return q.one<IdempotencyRow>(
    'SELECT request_hash, state, status_code, response, created_at FROM idempotency_keys WHERE scope = ? AND key = ?',
    [scope, key],
  );
}

/** Answers the claim this transaction made. */
export async function storeAnswer(q: Queryable, request: KeyedRequest, statusCode: number, body: string): Promise<void> {
  await q.run(
    `UPDATE idempotency_keys SET state = 'done', status_code = ?, response = ? WHERE scope = ? AND key = ? AND state = 'in_flight'`,
    [statusCode, body, request.scope, request.key],
  );
}

export async function forgetClaimsBefore(q: Queryable, instant: number): Promise<number> {
  return q.run('DELETE FROM idempotency_keys WHERE created_at < ?', [instant]);
}

/** Keys committed without their answer: none, since a key is answered in the transaction that claims it. */
export async function unansweredKeys(q: Queryable): Promise<Array<{ scope: string; key: string; state: string }>> {
  return q.all(
    `SELECT scope, key, state FROM idempotency_keys WHERE state <> 'done' OR status_code IS NULL OR response IS NULL ORDER BY scope, key`,
  );
}
