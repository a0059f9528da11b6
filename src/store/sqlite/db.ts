/**
 * The embedded SQLite adapter (better-sqlite3, WAL).
 *
 * Writes go through one connection and are group-committed: transactions
 * that arrive while the event loop is busy are run back to back inside one
 * BEGIN … COMMIT, each in its own SAVEPOINT so a failing one rolls back
 * alone, and every caller is answered only after the shared COMMIT (one
 * fsync for the whole batch). Reads outside a transaction use a second
 * connection and see only committed data.
 *
 * With `synchronous: 'full'` the fsync of the write-ahead log runs on the
 * thread pool instead of inside COMMIT: the connection runs at NORMAL (the
 * same WAL syncs at checkpoints as FULL) and a batch is answered once an
 * fsync of the WAL that started after its COMMIT has completed, which is
 * what FULL would have done before COMMIT returned. The event loop meanwhile
 * serves requests; the transactions they bring wait for the sync to end (or
 * for a full batch) and then run together (work committed during a sync
 * would wait for the following one anyway, and one large batch writes each
 * shared page once).
 * A read that may have seen a commit not yet synced waits for that sync
 * before it answers, so nothing not yet durable is ever shown.
 */
import Database from 'better-sqlite3';
import { closeSync, fdatasync, fdatasyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseUnavailable, UniqueViolation, type Db, type Migration, type Queryable } from '../db.ts';

export interface SqliteOptions {
  /** `full` (default) survives power loss; `normal` survives a process crash. */
  synchronous?: 'full' | 'normal';
  /** Most transactions committed together in one batch. */
  maxBatch?: number;
  /** How the write-ahead log is synced; tests pass one that fails. */
  fdatasync?: (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void;
}

/** The SQLite `Db`, with counters of its group commit (for tests and diagnostics). */
export interface SqliteDb extends Db {
  readonly stats: { readonly batches: number; readonly transactions: number; readonly walSyncs: number };
}

interface Pending {
  work: (tx: Queryable) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

type Params = readonly unknown[];

function bindable(params: Params): readonly unknown[] {
  return params.some((p) => typeof p === 'boolean') ? params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p)) : params;
}

/** SQLite's codes for a database that cannot be written now (extended codes such as `SQLITE_IOERR_FSYNC` included). */
const UNAVAILABLE = /^SQLITE_(CANTOPEN|IOERR|FULL|READONLY|BUSY|LOCKED|NOMEM)(_|$)/;

function normalise(error: unknown): unknown {
  if (error instanceof UniqueViolation || error instanceof DatabaseUnavailable) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new UniqueViolation(error);
  if (typeof code === 'string' && UNAVAILABLE.test(code)) return new DatabaseUnavailable(error);
  return error;
}

type Reader<T> = (statement: Database.Statement, args: readonly unknown[]) => T;
// Module-level, so running a statement makes no closure.
const allRows: Reader<unknown[]> = (statement, args) => statement.all(...args);
const firstRow: Reader<unknown> = (statement, args) => statement.get(...args);
const rowCount: Reader<number> = (statement, args) => statement.all(...args).length;
const noRows = (): unknown[] => [];
const noRow = () => undefined;
const changes = (info: Database.RunResult) => info.changes;

class Statements {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  get(sql: string): Database.Statement {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }

  /** Runs a statement with its parameters bound, and maps SQLite's errors to allot's. */
  #execute<T>(sql: string, params: Params, read: Reader<T>, write: (info: Database.RunResult) => T): T {
    try {
      const statement = this.get(sql);
      const args = bindable(params);
      return statement.reader ? read(statement, args) : write(statement.run(...args));
    } catch (error) {
      throw normalise(error);
    }
  }

  all<T>(sql: string, params: Params): T[] {
    return this.#execute(sql, params, allRows as Reader<T[]>, noRows as () => T[]);
  }

  /** The first row. A statement with RETURNING makes all its changes on its first step (SQLite's rule), so the rest may go unread. */
  one<T>(sql: string, params: Params): T | undefined {
    return this.#execute(sql, params, firstRow as Reader<T | undefined>, noRow);
  }

  run(sql: string, params: Params): number {
    return this.#execute(sql, params, rowCount, changes);
  }
}

function queryable(statements: Statements, memo?: Map<string, unknown>): Queryable {
  return {
    memo,
    all: async <T>(sql: string, params: Params = []) => statements.all<T>(sql, params),
    one: async <T>(sql: string, params: Params = []) => statements.one<T>(sql, params),
    run: async (sql: string, params: Params = []) => statements.run(sql, params),
  };
}

export function openSqlite(path: string, options: SqliteOptions = {}): SqliteDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const synchronous = options.synchronous ?? 'full';
  const maxBatch = options.maxBatch ?? 512;

  const writer = new Database(path);
  writer.pragma('journal_mode = WAL');
  const syncsWal = synchronous === 'full' && path !== ':memory:';
  writer.pragma(`synchronous = ${syncsWal ? 'NORMAL' : synchronous.toUpperCase()}`);
  writer.pragma('foreign_keys = ON');
  writer.pragma('busy_timeout = 5000');
  const reader = path === ':memory:' ? writer : new Database(path, { readonly: false });
  if (reader !== writer) {
    reader.pragma('busy_timeout = 5000');
    reader.pragma('query_only = ON');
  }

  const writes = new Statements(writer);
  // Prepared once: parsing these per transaction showed in profiles.
  const control = {
    begin: writer.prepare('BEGIN IMMEDIATE'),
    savepoint: writer.prepare('SAVEPOINT allot_tx'),
    release: writer.prepare('RELEASE allot_tx'),
    rollbackTo: writer.prepare('ROLLBACK TO allot_tx'),
    commit: writer.prepare('COMMIT'),
  };
  const reads = reader === writer ? writes : new Statements(reader);
  // What the units of the running batch have found out; it lives as long as the batch's transaction.
  const memo = new Map<string, unknown>();
  const tx = queryable(writes, memo);
  const queue: Pending[] = [];
  let scheduled = false;
  let running = false;
  let closed = false;
  const stats = { batches: 0, transactions: 0, walSyncs: 0 };

  // Batches are numbered as they commit; `synced` is the last one an fsync covers.
  let committed = 0;
  let synced = 0;
  let syncing = false;
  let walFd: number | undefined;
  /**
   * Set once a sync of the log failed. The kernel may have dropped the pages it
   * could not write and a later sync would then report success without them,
   * so nothing more is written or read until allot restarts and SQLite
   * recovers from what is on disk.
   */
  let failedSync: DatabaseUnavailable | undefined;
  const syncData = options.fdatasync ?? fdatasync;
  const syncWaiters: Array<{ upTo: number; resolve: () => void; reject: (error: unknown) => void }> = [];

  function syncWal(): void {
    if (syncing || synced >= committed) return;
    syncing = true;
    const upTo = committed;
    // Only a failed sync is fatal: a log that could not be opened was not written either.
    const settle = (error: unknown, fatal = true) => {
      syncing = false;
      stats.walSyncs++;
      if (error === null) synced = upTo;
      else if (fatal && !failedSync) {
        failedSync = new DatabaseUnavailable('the write-ahead log could not be synced; restart allot');
        failedSync.cause = error;
      }
      for (let i = syncWaiters.length - 1; i >= 0; i--) {
        const waiter = syncWaiters[i]!;
        // After a failure no later sync can vouch for anything: every waiter is answered now.
        if (waiter.upTo > upTo && !failedSync) continue;
        syncWaiters.splice(i, 1);
        if (failedSync) waiter.reject(failedSync);
        else if (error !== null) waiter.reject(new DatabaseUnavailable(error));
        else waiter.resolve();
      }
      if (syncWaiters.length > 0) syncWal();
      schedule();
    };
    try {
      walFd ??= openSync(`${path}-wal`, 'r');
    } catch (error) {
      queueMicrotask(() => settle(error, false));
      return;
    }
    // The log's data and size, not its timestamps: all that recovery after a crash reads.
    syncData(walFd, (error) => settle(error));
  }

  /** Resolves once every batch up to `upTo` is on disk. */
  function durable(upTo: number): Promise<void> {
    if (failedSync) return Promise.reject(failedSync);
    if (!syncsWal || synced >= upTo) return Promise.resolve();
    return new Promise((resolve, reject) => {
      syncWaiters.push({ upTo, resolve, reject });
      syncWal();
    });
  }

  const runBatch = async (): Promise<void> => {
    scheduled = false;
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.splice(0, maxBatch);
    if (failedSync) {
      running = false;
      for (const pending of batch) pending.reject(failedSync);
      schedule();
      return;
    }
    stats.batches++;
    stats.transactions += batch.length;
    try {
      const outcomes = await runTogether(batch);
      const answer = (syncError?: unknown) => batch.forEach((pending, i) => {
        const outcome = outcomes[i]!;
        if (syncError !== undefined) pending.reject(syncError);
        else if (outcome.ok) pending.resolve(outcome.value);
        else pending.reject(outcome.error);
      });
      if (syncsWal) durable(committed).then(() => answer(), answer);
      else answer();
    } finally {
      running = false;
      schedule();
    }
  };

  /**
   * Runs a batch in one transaction, each member in its own savepoint. When
   * the transaction as a whole fails (at COMMIT, or because SQLite abandoned
   * it after a full disk or an I/O error), every member fails with that error.
   */
  async function runTogether(batch: Pending[]): Promise<Outcome[]> {
    const failAll = (error: unknown): Outcome[] => {
      try {
        if (writer.inTransaction) writer.exec('ROLLBACK');
      } catch {
        // Nothing of the batch was committed either way.
      }
      const failed = normalise(error);
      return batch.map(() => ({ ok: false, error: failed }));
    };
    const outcomes: Outcome[] = [];
    try {
      control.begin.run();
      memo.clear();
      for (const pending of batch) {
        // Outside a transaction SAVEPOINT would open a new one and RELEASE commit it on its own.
        if (!writer.inTransaction) return failAll(new DatabaseUnavailable('the batch transaction was rolled back'));
        control.savepoint.run();
        try {
          const value = await pending.work(tx);
          control.release.run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (!writer.inTransaction) return failAll(error);
          control.rollbackTo.run();
          control.release.run();
          memo.clear();
          outcomes.push({ ok: false, error: normalise(error) });
        }
      }
      if (!writer.inTransaction) return failAll(new DatabaseUnavailable('the batch transaction was rolled back'));
      control.commit.run();
      committed++;
      return outcomes;
    } catch (error) {
      return failAll(error);
    }
  }

  function schedule(): void {
    if (scheduled || running || queue.length === 0) return;
    // Work that arrives while the WAL is being synced could not be answered before the next sync
    // anyway: it waits and runs as one batch when the sync ends (one commit and fewer pages written).
    if (syncing && queue.length < maxBatch) return;
    scheduled = true;
    setImmediate(() => void runBatch());
  }

  const readQueryable = queryable(reads);
  /** Answers rows only once the commits they may show are durable. */
  const afterSync = async <T>(rows: T): Promise<T> => {
    if (failedSync || synced < committed) await durable(committed);
    return rows;
  };

  return {
    dialect: 'sqlite',
    forUpdate: '',
    stats,
    all: async (sql, params) => afterSync(await readQueryable.all(sql, params)),
    one: async (sql, params) => afterSync(await readQueryable.one(sql, params)),
    oneUnsynced: (sql, params) => readQueryable.one(sql, params),
    run: (sql, params) => new Promise((resolve, reject) => {
      queue.push({ work: (q) => q.run(sql, params), resolve: resolve as (v: unknown) => void, reject });
      schedule();
    }),
    transaction<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new DatabaseUnavailable('database closed'));
      if (failedSync) return Promise.reject(failedSync);
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    async migrate(migrations: readonly Migration[]): Promise<string[]> {
      writer.exec('CREATE TABLE IF NOT EXISTS allot_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const applied: string[] = [];
      for (const migration of migrations) {
        const apply = writer.transaction(() => {
          const done = writer.prepare('SELECT 1 FROM allot_migrations WHERE id = ?').get(migration.id);
          if (done) return false;
          writer.exec(migration.sql('sqlite'));
          writer.prepare('INSERT INTO allot_migrations (id, applied_at) VALUES (?, ?)').run(migration.id, Date.now());
          return true;
        });
        if (apply.immediate()) applied.push(migration.id);
      }
      if (syncsWal && applied.length > 0) fdatasyncSync(walFd ??= openSync(`${path}-wal`, 'r'));
      return applied;
    },
    fatalError: () => failedSync,
    async ping(): Promise<void> {
      if (failedSync) throw failedSync;
      try {
        reader.prepare('SELECT 1').get();
      } catch (error) {
        throw new DatabaseUnavailable(error);
      }
    },
    async close(): Promise<void> {
      closed = true;
      while (running || queue.length > 0 || syncing) await new Promise((r) => setImmediate(r));
      if (walFd !== undefined) closeSync(walFd);
      if (reader !== writer) reader.close();
      writer.close();
    },
  };
}
