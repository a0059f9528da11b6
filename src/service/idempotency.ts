/**
 * `Idempotency-Key` for POST and PUT (SPEC §1): the first request with a key
 * does its work; a repeat with the same request replays the stored answer, a
 * different request is a conflict, and one arriving while the first still
 * runs is told so. Keys are scoped to the caller's shop.
 *
 * The key's claim, the work and the stored answer commit in one transaction:
 * after a crash or an outage at any point, a retry either replays the answer
 * or finds the key unclaimed and does the work for the first time.
 */
import { AllotError } from '../domain/errors.ts';
import { findClaim, insertAnswer, insertClaim, storeAnswer, type IdempotencyRow, type KeyedRequest } from '../store/idempotency.ts';
import { RetryUnit, type Services } from './context.ts';

export type { KeyedRequest };

export interface Answer {
  status: number;
  /** The body as sent, JSON. */
  body: string;
  headers?: Record<string, string> | undefined;
}

export interface Outcome {
  answer: Answer;
  /** The stored answer of an earlier request with this key. */
  replayed: boolean;
}

export interface KeyedWork {
  /** Does the request's work with `services` and answers what to send. */
  run(services: Services): Promise<Answer>;
  /**
   * The work runs transactions of its own (a sweep) and is safe to repeat:
   * its answer is stored after it, and a crash in between makes a retry run
   * it again.
   */
  ownTransactions?: boolean;
  /** The answer worth storing for a failure of the work (a final refusal), if any. */
  refusal(error: unknown): Answer | undefined;
}

function conflict(): AllotError {
  return new AllotError('idempotency_conflict', 'This Idempotency-Key was used with a different request.');
}

function inFlight(): AllotError {
  return new AllotError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed; retry shortly.');
}

function replay(row: IdempotencyRow, request: KeyedRequest): Outcome {
  if (row.request_hash !== request.hash) throw conflict();
  // Only a server of an older allot leaves a claim unanswered (see migration 0005).
  if (row.state !== 'done') throw inFlight();
  return { answer: { status: row.status_code ?? 200, body: row.response ?? '' }, replayed: true };
}

/**
 * The keys one server is working on. A repeat that arrives at the same server
 * while the first runs is answered 409 `idempotency_in_flight`. At another
 * server sharing the PostgreSQL database, the repeat's claim waits for the
 * first one's transaction: it replays the answer if that committed, and does
 * the work if that rolled back.
 */
export class IdempotencyKeys {
  /** Request hash by `scope`, `key`. */
  readonly #running = new Map<string, string>();

  /**
   * @param unguarded stores a failure's answer: the caller's API key was
   * live when the work began, and the work did nothing.
   */
  constructor(readonly unguarded: Services) {}

  async once(services: Services, request: KeyedRequest, work: KeyedWork): Promise<Outcome> {
    const id = `${request.scope}\n${request.key}`;
    const running = this.#running.get(id);
    if (running !== undefined) throw running === request.hash ? inFlight() : conflict();
    this.#running.set(id, request.hash);
    try {
      return work.ownTransactions ? await this.#thenAnswer(services, request, work) : await this.#together(services, request, work);
    } catch (error) {
      // A refused request did nothing (its transaction rolled back), so a transaction of its own may store the
      // refusal; if that fails or a crash comes first, a retry finds the key free and simply asks again.
      const refusal = work.refusal(error);
      if (refusal) {
        await this.unguarded.write(({ q, now }) => insertAnswer(q, request, refusal.status, refusal.body, now)).catch(() => undefined);
      }
      throw error;
    } finally {
      this.#running.delete(id);
    }
  }

  /** Claim, work and answer in one transaction. */
  async #together(services: Services, request: KeyedRequest, work: KeyedWork): Promise<Outcome> {
    return services.inOneTransaction(async (inTransaction, { q, now }) => {
      if (!(await insertClaim(q, request, now))) {
        const row = await findClaim(q, request.scope, request.key);
        // Forgotten by the sweep since the claim failed: try again.
        if (!row) throw new RetryUnit('idempotency key forgotten');
        return replay(row, request);
      }
      const answer = await work.run(inTransaction);
      await storeAnswer(q, request, answer.status, answer.body);
      return { answer, replayed: false };
    });
  }

  /** Work that commits as it goes: the answer is stored once it is done. */
  async #thenAnswer(services: Services, request: KeyedRequest, work: KeyedWork): Promise<Outcome> {
    const row = await services.read(({ q }) => findClaim(q, request.scope, request.key));
    if (row) return replay(row, request);
    const answer = await work.run(services);
    await this.unguarded.write(({ q, now }) => insertAnswer(q, request, answer.status, answer.body, now));
    return { answer, replayed: false };
  }
}
