/**
 * The embedded SQLite adapter (better-sqlite3, WAL).
 *
 * Writes go through one connection and are group-committed: transactions
 * that arrive while the event loop is busy are run back to back inside one
 * BEGIN … COMMIT, each in its own SAVEPOINT so a failing one rolls back
 * alone, and every caller is answered only after the shared COMMIT (one
 * fsync for the whole batch). Reads outside a transaction use a second
 * connection and see only committed data.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseUnavailable, UniqueViolation, type Db, type Migration, type Queryable } from '../db.ts';

export interface SqliteOptions {
  /** `full` (default) survives power loss; `normal` survives a process crash. */
  synchronous?: 'full' | 'normal';
  /** Most transactions committed together in one batch. */
  maxBatch?: number;
}

interface Pending {
  work: (tx: Queryable) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Params = readonly unknown[];

function bindable(params: Params): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

function normalise(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new UniqueViolation(error);
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_IOERR' || code === 'SQLITE_FULL' || code === 'SQLITE_READONLY') {
    return new DatabaseUnavailable(error);
  }
  return error;
}

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

  all<T>(sql: string, params: Params): T[] {
    try {
      const statement = this.get(sql);
      if (!statement.reader) {
        statement.run(...bindable(params));
        return [];
      }
      return statement.all(...bindable(params)) as T[];
    } catch (error) {
      throw normalise(error);
    }
  }

  run(sql: string, params: Params): number {
    try {
      const statement = this.get(sql);
      if (statement.reader) return statement.all(...bindable(params)).length;
      return statement.run(...bindable(params)).changes;
    } catch (error) {
      throw normalise(error);
    }
  }
}

function queryable(statements: Statements): Queryable {
  return {
    all: async <T>(sql: string, params: Params = []) => statements.all<T>(sql, params),
    one: async <T>(sql: string, params: Params = []) => statements.all<T>(sql, params)[0],
    run: async (sql: string, params: Params = []) => statements.run(sql, params),
  };
}

export function openSqlite(path: string, options: SqliteOptions = {}): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const synchronous = options.synchronous ?? 'full';
  const maxBatch = options.maxBatch ?? 512;

  const writer = new Database(path);
  writer.pragma('journal_mode = WAL');
  writer.pragma(`synchronous = ${synchronous.toUpperCase()}`);
  writer.pragma('foreign_keys = ON');
  writer.pragma('busy_timeout = 5000');
  const reader = path === ':memory:' ? writer : new Database(path, { readonly: false });
  if (reader !== writer) {
    reader.pragma('busy_timeout = 5000');
    reader.pragma('query_only = ON');
  }

  const writes = new Statements(writer);
  const reads = reader === writer ? writes : new Statements(reader);
  const tx = queryable(writes);
  const queue: Pending[] = [];
  let scheduled = false;
  let running = false;
  let closed = false;

  const runBatch = async (): Promise<void> => {
    scheduled = false;
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.splice(0, maxBatch);
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      writer.exec('BEGIN IMMEDIATE');
    } catch (error) {
      running = false;
      for (const pending of batch) pending.reject(normalise(error));
      schedule();
      return;
    }
    for (const pending of batch) {
      writer.exec('SAVEPOINT allot_tx');
      try {
        const value = await pending.work(tx);
        writer.exec('RELEASE allot_tx');
        outcomes.push({ ok: true, value });
      } catch (error) {
        writer.exec('ROLLBACK TO allot_tx');
        writer.exec('RELEASE allot_tx');
        outcomes.push({ ok: false, error: normalise(error) });
      }
    }
    let commitError: unknown;
    try {
      writer.exec('COMMIT');
    } catch (error) {
      commitError = normalise(error);
      if (writer.inTransaction) writer.exec('ROLLBACK');
    }
    running = false;
    batch.forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (commitError !== undefined) pending.reject(commitError);
      else if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
    schedule();
  };

  function schedule(): void {
    if (scheduled || running || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => void runBatch());
  }

  const readQueryable = queryable(reads);

  return {
    dialect: 'sqlite',
    forUpdate: '',
    all: (sql, params) => readQueryable.all(sql, params),
    one: (sql, params) => readQueryable.one(sql, params),
    run: (sql, params) => new Promise((resolve, reject) => {
      queue.push({ work: (q) => q.run(sql, params), resolve: resolve as (v: unknown) => void, reject });
      schedule();
    }),
    transaction<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new DatabaseUnavailable('database closed'));
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
      return applied;
    },
    async ping(): Promise<void> {
      try {
        reader.prepare('SELECT 1').get();
      } catch (error) {
        throw new DatabaseUnavailable(error);
      }
    },
    async close(): Promise<void> {
      closed = true;
      while (running || queue.length > 0) await new Promise((r) => setImmediate(r));
      if (reader !== writer) reader.close();
      writer.close();
    },
  };
}
