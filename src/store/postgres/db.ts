/**
 * The PostgreSQL adapter of the `Db` interface, over a `pg` pool.
 *
 * It hides PostgreSQL's quirks from the store: `?` placeholders become
 * `$1..$n`, BIGINT and NUMERIC come back as numbers, serialization failures
 * and deadlocks retry the transaction, and errors are normalised to
 * `UniqueViolation` and `DatabaseUnavailable`. A database that goes away
 * makes requests fail fast; when it comes back, the next request works.
 *
 * Transactions are group-committed, as on SQLite: those that arrive together
 * run back to back on one connection inside one BEGIN … COMMIT, and every
 * caller is answered after the shared COMMIT (one WAL flush for all). A
 * failing one must fail alone. Savepoints give that but cost a round trip
 * each, and failures are rare, so a batch starts without them: when a
 * member other than the first fails, the batch rolls back and runs again
 * with a savepoint before every member (rolled back to when that member
 * fails), and so do the next few batches. The first member needs none: it
 * fails by rolling back the whole, still empty, transaction. A few batches
 * run at once, each on its own connection.
 *
 * Batches lock rows in no common order, so two of them (on one server or
 * two) may each wait for a row the other holds. A batch waits for a lock
 * at most `BATCH_LOCK_TIMEOUT`: a member that waited longer runs again in a
 * later batch, the rest of its batch commits and frees the rows the other
 * waits for, and fewer batches run at once for a while (they were queueing
 * for the same rows). One that keeps waiting runs alone, without the limit
 * (where PostgreSQL's deadlock detector decides).
 *
 * @example
 * const db = await openPostgres('postgres://allot:secret@localhost/allot');
 * await db.migrate(migrations);
 */
import pg from 'pg';
import type { CustomTypesConfig, PoolClient, QueryResult } from 'pg';
import {
  DatabaseUnavailable,
  UniqueViolation,
  type Db,
  type Migration,
  type Queryable,
  type Row,
} from '../db.ts';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Serializes concurrent `migrate` calls across every process sharing the database. */
const MIGRATION_LOCK = 418430873460; // 'allot' as a 40-bit integer

const CONNECT_TIMEOUT_MS = 2_000;
/**
 * How long a request may wait for a free pooled connection. A burst on a busy
 * but healthy database queues here; a database that is down fails the queued
 * requests fast (refused connections, terminated sessions), not by this timeout.
 */
const POOL_WAIT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 10_000;
/** Client-side guard for a server that stops answering; longer than the server's own timeout. */
const QUERY_TIMEOUT_MS = 12_000;
const TRANSACTION_ATTEMPTS = 5;
/** Most transactions of one batch: PostgreSQL keeps up to 64 subtransactions of a transaction in shared memory. */
const MAX_BATCH = 60;
/** Batches in flight at once, each on its own pooled connection. */
const DEFAULT_BATCHES = 4;
/** How long a batched statement waits for a row lock before its transaction runs again later. */
const BATCH_LOCK_TIMEOUT = '100ms';
/** Lock waits a transaction gives up in batches before it runs alone. */
const BATCHED_LOCK_WAITS = 3;
/** Batches without a lock wait after which one more may run at once. */
const CLEAN_BATCHES_TO_WIDEN = 8;
/** Batches run with a savepoint before every member after one without them failed. */
const CAREFUL_BATCHES = 16;

const BEGIN = 'BEGIN';
// One round trip: the simple query protocol runs both statements.
const BEGIN_BATCH = `BEGIN; SET LOCAL lock_timeout = '${BATCH_LOCK_TIMEOUT}'`;
const SAVEPOINT = 'SAVEPOINT allot_tx';
const ROLLBACK_TO = 'ROLLBACK TO SAVEPOINT allot_tx';

const SERIALIZATION_FAILURE = '40001';
const DEADLOCK_DETECTED = '40P01';
const LOCK_NOT_AVAILABLE = '55P03';
const UNIQUE_VIOLATION = '23505';

/** SQLSTATEs that mean the server is going away or refusing connections. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** Messages of errors pg and pg-pool raise without a code. */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'timeout expired',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
];

/** Parses BIGINT and NUMERIC to numbers for this pool only; pg's global parsers stay untouched. */
const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** A client that gives up connecting after CONNECT_TIMEOUT_MS, whatever the pool's own timeout. */
class QuickConnectClient extends pg.Client {
  constructor(config: pg.ClientConfig) {
    super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  }
}

export interface PostgresOptions {
  /** Most connections the pool opens; 10 by default. */
  poolSize?: number;
  /** Most batches of transactions in flight at once (each holds a connection); 4 by default, at most the pool's size. */
  batches?: number;
  /**
   * `always`: a savepoint before every member of a batch but the first.
   * `after-failure` (default): none until a member fails; that batch then rolls
   * back and runs again with them, as do the next few.
   */
  savepoints?: 'always' | 'after-failure';
}

/** The PostgreSQL `Db`, with counters of its group commit (for tests and diagnostics). */
export interface PostgresDb extends Db {
  readonly stats: { readonly batches: number; readonly transactions: number; readonly lockWaits: number; readonly replays: number };
}

interface Pending {
  work: (tx: Queryable) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** Attempts that failed on a serialization failure or deadlock. */
  conflicts: number;
  /** Times it gave up waiting for a lock inside a batch. */
  lockWaits: number;
  /** Runs next in a batch with a savepoint before every member (a batch without them failed). */
  careful: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | { ok: 'again' };

/** A member of a batch without savepoints failed: the batch rolls back and runs again, with them. */
class CarefulReplay extends Error {}

export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PostgresDb> {
  const poolSize = options.poolSize ?? 10;
  const maxBatches = Math.max(1, Math.min(options.batches ?? DEFAULT_BATCHES, poolSize));
  const savepoints = options.savepoints ?? 'after-failure';
  const connection = {
    connectionString: url,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'allot',
  };
  const pool = new pg.Pool({
    ...connection,
    // pg-pool uses one timeout for both waiting for a free client and
    // connecting one; the client class keeps the connect timeout short.
    connectionTimeoutMillis: POOL_WAIT_TIMEOUT_MS,
    Client: QuickConnectClient as unknown as new () => pg.ClientBase,
    max: poolSize,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
  });
  // An idle client whose server went away emits 'error'; the pool drops it,
  // and without a listener the process would crash.
  pool.on('error', () => {});

  const poolQueryable = bindQueryable((text, values) => pool.query(text, values));

  const queue: Pending[] = [];
  let scheduled = false;
  let inFlight = 0;
  /** Transactions waiting out the pause before they run again. */
  let pausing = 0;
  let closed = false;
  const stats = { batches: 0, transactions: 0, lockWaits: 0, replays: 0 };
  /** While above zero, batches take a savepoint before every member (a recent batch had a failing one). */
  let careful = savepoints === 'always' ? Number.POSITIVE_INFINITY : 0;

  /**
   * Batches allowed in flight now: halved when one gave up waiting for a lock
   * (they were queueing for the same rows), one more after a run of batches
   * that waited for none.
   */
  let parallel = maxBatches;
  let cleanBatches = 0;

  function schedule(): void {
    if (scheduled || queue.length === 0 || inFlight >= parallel) return;
    scheduled = true;
    // Transactions that arrive in the same turn of the event loop join one batch.
    setImmediate(startBatches);
  }

  function startBatches(): void {
    scheduled = false;
    while (queue.length > 0 && inFlight < parallel) {
      // A transaction that kept waiting for locks in batches runs alone, without the lock timeout.
      const solo = queue[0]!.lockWaits >= BATCHED_LOCK_WAITS;
      const batch = solo ? queue.splice(0, 1) : takeBatch();
      inFlight++;
      stats.batches++;
      stats.transactions += batch.length;
      const withSavepoints = solo || careful > 0 || batch.some((pending) => pending.careful);
      if (careful > 0) careful--;
      void runBatch(batch, solo, withSavepoints).finally(() => {
        inFlight--;
        schedule();
      });
    }
  }

  /** The queue's head, up to the first transaction that must run alone. */
  function takeBatch(): Pending[] {
    let n = 0;
    while (n < queue.length && n < MAX_BATCH && queue[n]!.lockWaits < BATCHED_LOCK_WAITS) n++;
    // Spread what is queued over the free connections rather than leave them idle.
    const share = Math.ceil(queue.length / (parallel - inFlight));
    return queue.splice(0, Math.max(1, Math.min(n, share)));
  }

  /**
   * Runs a batch in one transaction on one connection, each member after a
   * savepoint (the first after BEGIN). Members are answered after COMMIT;
   * when the transaction as a whole fails, every member fails with its error
   * (or runs again, when that error is a conflict worth retrying).
   */
  async function runBatch(batch: Pending[], solo: boolean, withSavepoints: boolean): Promise<void> {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      settle(batch, batch.map(() => ({ ok: false, error: normalise(error) })));
      return;
    }
    // A checked-out client has no pool listener: keep a server going away
    // between two statements from crashing the process.
    const onClientError = (): void => {};
    client.on('error', onClientError);
    const memo = new Map<string, unknown>();
    const tx: Queryable = { ...bindQueryable((text, values) => client.query(text, values)), memo };
    const control = async (sql: string): Promise<void> => {
      try {
        await client.query(sql);
      } catch (error) {
        throw normalise(error);
      }
    };
    const outcomes: Outcome[] = [];
    let open = false;
    let broken: Error | undefined;
    try {
      for (const pending of batch) {
        const first = !open;
        if (first) await control(solo ? BEGIN : BEGIN_BATCH);
        else if (withSavepoints) await control(SAVEPOINT);
        open = true;
        pending.careful = false;
        try {
          outcomes.push({ ok: true, value: await pending.work(tx) });
        } catch (error) {
          if (error instanceof DatabaseUnavailable) throw error;
          if (!first && !withSavepoints) throw new CarefulReplay();
          memo.clear();
          if (first) {
            await control('ROLLBACK');
            open = false;
          } else {
            await control(ROLLBACK_TO);
          }
          outcomes.push(again(pending, error) ? { ok: 'again' } : { ok: false, error: normalise(error) });
        }
      }
      if (open) await control('COMMIT');
    } catch (error) {
      broken = await rollback(client, error);
      outcomes.length = 0;
      if (error instanceof CarefulReplay) {
        // Nothing was committed: the batch runs again at once, this time with savepoints, and the next ones too.
        stats.replays++;
        careful = CAREFUL_BATCHES;
        for (const pending of batch) pending.careful = true;
        queue.unshift(...batch);
        return;
      }
      const failure = normalise(error);
      // Nothing of the batch was committed: every member fails with the batch, or runs again.
      for (const pending of batch) outcomes.push(again(pending, failure) ? { ok: 'again' } : { ok: false, error: failure });
    } finally {
      client.off('error', onClientError);
      client.release(broken);
    }
    settle(batch, outcomes);
  }

  /** Whether a failed member runs again in a later batch (counting its attempt). */
  function again(pending: Pending, error: unknown): boolean {
    if (closed) return false;
    const code = sqlState(error);
    if (code === LOCK_NOT_AVAILABLE) {
      parallel = Math.max(1, Math.floor(parallel / 2));
      cleanBatches = 0;
    }
    if (code === LOCK_NOT_AVAILABLE && pending.lockWaits < BATCHED_LOCK_WAITS) {
      pending.lockWaits++;
      stats.lockWaits++;
      return true;
    }
    if (isRetryable(error) && ++pending.conflicts < TRANSACTION_ATTEMPTS) return true;
    return false;
  }

  function settle(batch: Pending[], outcomes: Outcome[]): void {
    if (parallel < maxBatches && ++cleanBatches >= CLEAN_BATCHES_TO_WIDEN) {
      parallel++;
      cleanBatches = 0;
    }
    const retries: Pending[] = [];
    batch.forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok === 'again') retries.push(pending);
      else if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
    if (retries.length === 0) return;
    // A short pause lets the conflicting transaction finish first.
    pausing += retries.length;
    setTimeout(() => {
      pausing -= retries.length;
      queue.unshift(...retries);
      schedule();
    }, 1 + Math.random() * 5);
  }

  const db: PostgresDb = {
    dialect: 'postgres',
    forUpdate: ' FOR UPDATE',
    stats,
    all: poolQueryable.all,
    one: poolQueryable.one,
    run: poolQueryable.run,

    transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new DatabaseUnavailable('database closed'));
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (value: unknown) => void, reject, conflicts: 0, lockWaits: 0, careful: false });
        schedule();
      });
    },

    async migrate(migrations: readonly Migration[]): Promise<string[]> {
      // A dedicated client without timeouts: waiting for another server's
      // migrations, or one slow migration, must not abort start-up.
      const client = new pg.Client(connection);
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
        try {
          return await applyMigrations(client, migrations);
        } finally {
          await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`).catch(() => {});
        }
      } catch (error) {
        throw normalise(error);
      } finally {
        await client.end().catch(() => {});
      }
    },

    async ping(): Promise<void> {
      try {
        await pool.query('SELECT 1');
      } catch (error) {
        throw error instanceof DatabaseUnavailable ? error : new DatabaseUnavailable(error);
      }
    },

    async close(): Promise<void> {
      closed = true;
      while (inFlight > 0 || queue.length > 0 || pausing > 0) await sleep(1);
      await pool.end();
    },
  };
  return db;
}

async function applyMigrations(client: pg.Client, migrations: readonly Migration[]): Promise<string[]> {
  await client.query(
    'CREATE TABLE IF NOT EXISTS allot_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)',
  );
  const done = await client.query<{ id: string }>('SELECT id FROM allot_migrations');
  const applied = new Set(done.rows.map((row) => row.id));
  const appliedNow: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.id)) continue;
    await client.query('BEGIN');
    try {
      // No parameters: the simple query protocol runs several statements at once.
      await client.query(migration.sql('postgres'));
      await client.query('INSERT INTO allot_migrations (id, applied_at) VALUES ($1, $2)', [
        migration.id,
        Date.now(),
      ]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    appliedNow.push(migration.id);
  }
  return appliedNow;
}

type Execute = (text: string, values: unknown[] | undefined) => Promise<QueryResult>;

function bindQueryable(execute: Execute): Queryable {
  async function query(sql: string, params: readonly unknown[] | undefined): Promise<QueryResult> {
    try {
      return await execute(toNumberedPlaceholders(sql), params ? [...params] : undefined);
    } catch (error) {
      throw normalise(error);
    }
  }
  return {
    async all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]> {
      return (await query(sql, params)).rows as T[];
    },
    async one<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
      return (await query(sql, params)).rows[0] as T | undefined;
    },
    async run(sql: string, params?: readonly unknown[]): Promise<number> {
      return (await query(sql, params)).rowCount ?? 0;
    },
  };
}

/**
 * Rolls back after a failed transaction and answers the error to release the
 * client with when the connection cannot be trusted any more (the pool then
 * destroys it instead of reusing it).
 */
async function rollback(client: PoolClient, failure: unknown): Promise<Error | undefined> {
  if (failure instanceof DatabaseUnavailable) return failure;
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

const numbered = new Map<string, string>();
const NUMBERED_CACHE_LIMIT = 2_000;

/** `?` placeholders to PostgreSQL's `$1..$n`, cached per SQL string. */
function toNumberedPlaceholders(sql: string): string {
  let converted = numbered.get(sql);
  if (converted === undefined) {
    let n = 0;
    converted = sql.replace(/\?/g, () => `$${++n}`);
    // SQL built at run time (IN lists of varying length) must not grow the cache forever.
    if (numbered.size >= NUMBERED_CACHE_LIMIT) numbered.clear();
    numbered.set(sql, converted);
  }
  return converted;
}

function normalise(error: unknown): unknown {
  if (error instanceof UniqueViolation || error instanceof DatabaseUnavailable) return error;
  if (sqlState(error) === UNIQUE_VIOLATION) return new UniqueViolation(error);
  if (isUnavailable(error)) return new DatabaseUnavailable(error);
  return error;
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  if (!(error instanceof Error)) return false;
  const code = sqlState(error);
  if (code !== undefined) {
    if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (UNAVAILABLE_MESSAGES.some((message) => error.message.startsWith(message))) return true;
  return error.cause !== undefined && isUnavailable(error.cause);
}

function isRetryable(error: unknown): boolean {
  const code = sqlState(error);
  return code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED;
}

function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
