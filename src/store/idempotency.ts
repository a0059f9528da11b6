/** SQL for Idempotency-Key claims and their stored answers. */
import type { Queryable } from './db.ts';

export interface IdempotencyRow {
  request_hash: string;
  state: 'in_flight' | 'done';
  status_code: number | null;
  response: string | null;
  created_at: number;
}

/** Claims (scope, key) for a request; answers false when it is already claimed. */
export async function insertClaim(q: Queryable, scope: string, key: string, requestHash: string, now: number): Promise<boolean> {
  const inserted = await q.run(
    `INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) VALUES (?, ?, ?, 'in_flight', ?)
     ON CONFLICT (scope, key) DO NOTHING`,
    [scope, key, requestHash, now],
  );
  return inserted === 1;
}

export async function findClaim(q: Queryable, scope: string, key: string): Promise<IdempotencyRow | undefined> {
  return q.one<IdempotencyRow>(
    'SELECT request_hash, state, status_code, response, created_at FROM idempotency_keys WHERE scope = ? AND key = ?',
    [scope, key],
  );
}

/** Takes over a claim still in flight since `claimedAt`; answers false when someone else moved it first. */
export async function retakeClaim(q: Queryable, scope: string, key: string, claimedAt: number, now: number): Promise<boolean> {
  const taken = await q.run(
    `UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND key = ? AND state = 'in_flight' AND created_at = ?`,
    [now, scope, key, claimedAt],
  );
  return taken === 1;
}

export async function storeAnswer(q: Queryable, scope: string, key: string, statusCode: number, body: string): Promise<void> {
  await q.run(
    `UPDATE idempotency_keys SET state = 'done', status_code = ?, response = ? WHERE scope = ? AND key = ? AND state = 'in_flight'`,
    [statusCode, body, scope, key],
  );
}

export async function dropClaim(q: Queryable, scope: string, key: string): Promise<void> {
  await q.run(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'in_flight'`, [scope, key]);
}

export async function forgetClaimsBefore(q: Queryable, instant: number): Promise<number> {
  return q.run('DELETE FROM idempotency_keys WHERE created_at < ?', [instant]);
}
