/**
 * What every use case runs with: the database, the clock and the settings
 * that shape rules. `write` opens a transaction, hands it the instant it
 * runs at, and re-runs it when a guarded write lost a race. `inOneTransaction`
 * runs a whole use case, however many units of work it has, in one
 * transaction (a request with an Idempotency-Key, whose stored answer must
 * commit with its work).
 */
import type { Clock } from '../domain/clock.ts';
import type { Db, Queryable } from '../store/db.ts';

export interface Rules {
  /** avg tokens per query above which status advises shorter queries. */
  highTokensPerQuery: number;
  /** Most active holds one subscription may have at once. */
  maxActiveHolds: number;
}

export const defaultRules: Rules = { highTokensPerQuery: 300, maxActiveHolds: 1000 };

export interface Unit {
  q: Queryable;
  /** Append to a SELECT that must lock the rows it reads until commit. */
  lock: string;
  now: number;
}

/** Thrown inside a unit of work when a guarded write found the row changed: the whole unit runs again. */
export class RetryUnit extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RetryUnit';
  }
}

const MAX_ATTEMPTS = 8;
/** The savepoint of a unit of work run inside `inOneTransaction`. */
const NESTED_UNIT = 'allot_nested_unit';

/** A check every unit of work runs first, in its own transaction: it throws to refuse the unit. */
export type Guard = (q: Queryable) => Promise<void>;

export class Services {
  readonly #guard: Guard | undefined;
  /** The transaction every unit runs in, for services made by `inOneTransaction`. */
  readonly #tx: Queryable | undefined;

  constructor(
    readonly db: Db,
    readonly clock: Clock,
    readonly rules: Rules = defaultRules,
    guard?: Guard,
    tx?: Queryable,
  ) {
    this.#guard = guard;
    this.#tx = tx;
  }

  /** The same services, with `guard` run at the start of every write and before every read. */
  guardedBy(guard: Guard): Services {
    return new Services(this.db, this.clock, this.rules, guard, this.#tx);
  }

  async write<T>(work: (unit: Unit) => Promise<T>): Promise<T> {
    if (this.#tx) return this.#nestedWrite(this.#tx, work);
    const guard = this.#guard;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (q) => {
          if (guard) await guard(q);
          return work({ q, lock: this.db.forUpdate, now: this.clock.now() });
        });
      } catch (error) {
        if (!(error instanceof RetryUnit) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** Reads committed data outside a transaction (inside `inOneTransaction`: in its transaction). */
  async read<T>(work: (unit: Unit) => Promise<T>): Promise<T> {
    if (this.#tx) return work({ q: this.#tx, lock: '', now: this.clock.now() });
    if (this.#guard) await this.#guard(this.db);
    return work({ q: this.db, lock: '', now: this.clock.now() });
  }

  /**
   * Runs `work` in one transaction, with services whose every write and read
   * run in it: all it does commits together, or nothing does. The guard runs
   * once, first. A RetryUnit that escapes a unit runs all of `work` again.
   * Like any transaction's work, it must touch only the database it is given.
   */
  async inOneTransaction<T>(work: (services: Services, unit: Unit) => Promise<T>): Promise<T> {
    if (this.#tx) return work(this, { q: this.#tx, lock: this.db.forUpdate, now: this.clock.now() });
    return this.write((unit) => work(new Services(this.db, this.clock, this.rules, undefined, unit.q), unit));
  }

  /**
   * A unit inside a running transaction gets a savepoint of its own, so that,
   * as with a transaction of its own, a failure undoes only its writes and a
   * lost race re-runs only it (its caller may keep state across attempts).
   */
  async #nestedWrite<T>(tx: Queryable, work: (unit: Unit) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await tx.run(`SAVEPOINT ${NESTED_UNIT}`);
      try {
        const value = await work({ q: tx, lock: this.db.forUpdate, now: this.clock.now() });
        await tx.run(`RELEASE SAVEPOINT ${NESTED_UNIT}`);
        return value;
      } catch (error) {
        try {
          await tx.run(`ROLLBACK TO SAVEPOINT ${NESTED_UNIT}`);
          await tx.run(`RELEASE SAVEPOINT ${NESTED_UNIT}`);
        } catch {
          // The whole transaction failed (the database went away): it rolls back as a whole.
          throw error;
        }
        tx.memo?.clear();
        if (!(error instanceof RetryUnit) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }
}
