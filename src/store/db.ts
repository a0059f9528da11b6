/**
 * The one database interface allot's store is written against. SQL uses `?`
 * placeholders and a dialect-neutral subset (RETURNING, ON CONFLICT, partial
 * unique indexes); each adapter hides the rest of its dialect's quirks.
 *
 * Conventions shared by both dialects: instants are BIGINT epoch milliseconds,
 * days are TEXT `YYYY-MM-DD`, booleans are INTEGER 0/1, JSON is TEXT.
 */
export type Dialect = 'sqlite' | 'postgres';

export type Row = Record<string, unknown>;

export interface Queryable {
  all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  one<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs a statement and answers the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Facts read inside the current write transaction, for a check that every
   * unit of work sharing it repeats (SQLite runs a batch of units in one
   * transaction). Emptied when the transaction, or a unit's part of it, rolls
   * back; a write that changes a fact deletes it. Absent outside transactions.
   */
  readonly memo?: Map<string, unknown>;
}

export interface Db extends Queryable {
  readonly dialect: Dialect;
  /**
   * Runs `work` atomically. Work must touch only `tx` (no other I/O): the
   * SQLite adapter commits concurrent transactions together in one batch,
   * and a failing transaction rolls back alone.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Appended to a SELECT that must lock its rows until commit (PostgreSQL `FOR UPDATE`). */
  readonly forUpdate: string;
  /** Runs the migration list under the dialect's cross-process lock. */
  migrate(migrations: readonly Migration[]): Promise<string[]>;
  /**
   * A read that may see commits not yet durable, for lookups whose answer
   * never shows a write to anyone (API keys: a key is used only after its
   * creation was answered, a revocation only refuses). Adapters that never
   * show such commits leave it out and `one` serves.
   */
  oneUnsynced?<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  /**
   * A failure the database cannot come back from while this process runs (a
   * failed sync of SQLite's log): allot must restart. Adapters without such
   * failures leave it out.
   */
  fatalError?(): Error | undefined;
  close(): Promise<void>;
}

export interface Migration {
  id: string;
  sql(dialect: Dialect): string;
}

/** Raised by adapters when the database cannot be reached; answered as 503. */
export class DatabaseUnavailable extends Error {
  constructor(cause: unknown) {
    super(`database unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'DatabaseUnavailable';
    this.cause = cause;
  }
}

/** Raised by adapters for a unique-constraint violation, in either dialect. */
export class UniqueViolation extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'UniqueViolation';
    this.cause = cause;
  }
}
