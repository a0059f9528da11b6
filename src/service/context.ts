/**
 * What every use case runs with: the database, the clock and the settings
 * that shape rules. `write` opens a transaction, hands it the instant it
 * runs at, and re-runs it when a guarded write lost a race.
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

/** A check every unit of work runs first, in its own transaction: it throws to refuse the unit. */
export type Guard = (q: Queryable) => Promise<void>;

export class Services {
  readonly #guard: Guard | undefined;

  constructor(
    readonly db: Db,
    readonly clock: Clock,
    readonly rules: Rules = defaultRules,
    guard?: Guard,
  ) {
    this.#guard = guard;
  }

  /** The same services, with `guard` run at the start of every write and before every read. */
  guardedBy(guard: Guard): Services {
    return new Services(this.db, this.clock, this.rules, guard);
  }

  async write<T>(work: (unit: Unit) => Promise<T>): Promise<T> {
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

  /** Reads committed data outside a transaction. */
  async read<T>(work: (unit: Unit) => Promise<T>): Promise<T> {
    if (this.#guard) await this.#guard(this.db);
    return work({ q: this.db, lock: '', now: this.clock.now() });
  }
}
