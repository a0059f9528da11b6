/**
 * `Idempotency-Key` for POST and PUT (SPEC §1): the first request with a key
 * claims it; a repeat with the same request replays the stored answer, a
 * different request is a conflict, and one arriving while the first still
 * runs is told so. Keys are scoped to the caller's shop.
 */
import { AllotError } from '../domain/errors.ts';
import { dropClaim, findClaim, insertClaim, retakeClaim, storeAnswer } from '../store/idempotency.ts';
import type { Services } from './context.ts';

/** A claim older than this is taken to belong to a crashed request and may be taken over. */
const STALE_CLAIM_MS = 60_000;

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; statusCode: number; body: string };

export async function claimKey(services: Services, scope: string, key: string, requestHash: string): Promise<Claim> {
  return services.write(async ({ q, now }) => {
    if (await insertClaim(q, scope, key, requestHash, now)) return { kind: 'claimed' };
    const row = await findClaim(q, scope, key);
    if (!row) throw new AllotError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed.');
    if (row.request_hash !== requestHash) {
      throw new AllotError('idempotency_conflict', 'This Idempotency-Key was used with a different request.');
    }
    if (row.state === 'done') return { kind: 'replay', statusCode: row.status_code ?? 200, body: row.response ?? '' };
    if (now - row.created_at > STALE_CLAIM_MS && (await retakeClaim(q, scope, key, row.created_at, now))) return { kind: 'claimed' };
    throw new AllotError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed; retry shortly.');
  });
}

export async function completeKey(services: Services, scope: string, key: string, statusCode: number, body: string): Promise<void> {
  await services.write(({ q }) => storeAnswer(q, scope, key, statusCode, body));
}

export async function abandonKey(services: Services, scope: string, key: string): Promise<void> {
  await services.write(({ q }) => dropClaim(q, scope, key));
}
