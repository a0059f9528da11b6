/**
 * The PostgreSQL adapter of the `Db` interface, over a `pg` pool.
 *
 * It hides PostgreSQL's quirks from the store: `?` placeholders become
 * `$1..$n`, BIGINT and NUMERIC come back as numbers, serialization failures
 * and deadlocks retry the whole transaction, and errors are normalised to
 * `UniqueViolation` and `DatabaseUnavailable`. A database that goes away
 * makes requests fail fast; when it comes back, the next request works.
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

const SERIALIZATION_FAILURE = '40001';
const DEADLOCK_DETECTED = '40P01';
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
}

export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Db> {
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
    max: options.poolSize ?? 10,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
  });
  // An idle client whose server went away emits 'error'; the pool drops it,
  // and without a listener the process would crash.
  pool.on('error', () => {});

  const poolQueryable = bindQueryable((text, values) => pool.query(text, values));

  async function transactionOnce<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await pool.connect().catch((error: unknown) => {
      throw normalise(error);
    });
    // A checked-out client has no pool listener: keep a server going away
    // between two statements from crashing the process.
    const onClientError = (): void => {};
    client.on('error', onClientError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN').catch((error: unknown) => {
        throw normalise(error);
      });
      const result = await work(bindQueryable((text, values) => client.query(text, values)));
      await client.query('COMMIT').catch((error: unknown) => {
        throw normalise(error);
      });
      return result;
    } catch (error) {
      broken = await rollback(client, error);
      throw error;
    } finally {
      client.off('error', onClientError);
      client.release(broken);
    }
  }

  const db: Db = {
    dialect: 'postgres',
    forUpdate: ' FOR UPDATE',
    all: poolQueryable.all,
    one: poolQueryable.one,
    run: poolQueryable.run,

    async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await transactionOnce(work);
        } catch (error) {
          if (attempt >= TRANSACTION_ATTEMPTS || !isRetryable(error)) throw error;
          await sleep(attempt * 5 + Math.random() * 20);
        }
      }
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
