/**
 * `Idempotency-Key` for POST and PUT (SPEC §1): the first request with a key
 * claims it; a repeat with the same request replays the stored answer, a
 * different request is a conflict, and one arriving while the first still
 * runs is told so. Keys are scoped to the caller's shop.
 */
import { AllotError } from '../domain/errors.ts';
import type { Services } from './context.ts';

/** A claim older than this is taken to belong to a crashed request and may be taken over. */
const STALE_CLAIM_MS = 60_000;

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; statusCode: number; body: string };

export async function claimKey(services: Services, scope: string, key: string, requestHash: string): Promise<Claim> {
  return services.write(async ({ q, now }) => {
    const inserted = await q.run(
      `INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) VALUES (?, ?, ?, 'in_flight', ?)
       ON CONFLICT (scope, key) DO NOTHING`,
      [scope, key, requestHash, now],
    );
    if (inserted === 1) return { kind: 'claimed' };
    const row = await q.one<{ request_hash: string; state: string; status_code: number | null; response: string | null; created_at: number }>(
      'SELECT request_hash, state, status_code, response, created_at FROM idempotency_keys WHERE scope = ? AND key = ?',
      [scope, key],
    );
    if (!row) throw new AllotError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed.');
    if (row.request_hash !== requestHash) {
      throw new AllotError('idempotency_conflict', 'This Idempotency-Key was used with a different request.');
    }
    if (row.state === 'done') return { kind: 'replay', statusCode: row.status_code ?? 200, body: row.response ?? '' };
    if (now - row.created_at > STALE_CLAIM_MS) {
      const taken = await q.run(
        `UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND key = ? AND state = 'in_flight' AND created_at = ?`,
        [now, scope, key, row.created_at],
      );
      if (taken === 1) return { kind: 'claimed' };
    }
    throw new AllotError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed; retry shortly.');
  });
}

export async function completeKey(services: Services, scope: string, key: string, statusCode: number, body: string): Promise<void> {
  await services.write(({ q }) =>
    q.run(
      `UPDATE idempotency_keys SET state = 'done', status_code = ?, response = ? WHERE scope = ? AND key = ? AND state = 'in_flight'`,
      [statusCode, body, scope, key],
    ),
  );
}

export async function abandonKey(services: Services, scope: string, key: string): Promise<void> {
  await services.write(({ q }) => q.run(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'in_flight'`, [scope, key]));
}
