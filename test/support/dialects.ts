/**
 * Every store test runs on every dialect: loop over `DIALECTS` and open a
 * fresh, empty database per test with `openTestDb`.
 *
 * PostgreSQL tests use the server at `ALLOT_TEST_DATABASE_URL` (set by
 * `npm test`, which starts one for the whole run); when it is unset, an
 * embedded server is started once per process, so a single file runs alone
 * with `node --import tsx --test <file>`.
 *
 * @example
 * for (const dialect of DIALECTS) {
 *   test(`${dialect}: a reservation holds tokens`, async (t) => {
 *     const { db, cleanup } = await openTestDb(dialect);
 *     t.after(cleanup);
 *     // ...
 *   });
 * }
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Db, Dialect } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres/db.ts';
import { openSqlite } from '../../src/store/sqlite/db.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from './postgres-server.ts';

export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

/** How to reach the test database, e.g. to start an allot server on it. */
export interface TestDbConfig {
  dialect: Dialect;
  sqlitePath?: string;
  databaseUrl?: string;
}

export interface TestDb {
  db: Db;
  config: TestDbConfig;
  /** Closes the database and deletes it. */
  cleanup(): Promise<void>;
}

export async function openTestDb(dialect: Dialect): Promise<TestDb> {
  return dialect === 'sqlite' ? openSqliteTestDb() : openPostgresTestDb();
}

async function openSqliteTestDb(): Promise<TestDb> {
  const dir = await mkdtemp(join(tmpdir(), 'allot-test-'));
  const sqlitePath = join(dir, 'allot.db');
  const db = openSqlite(sqlitePath);
  return {
    db,
    config: { dialect: 'sqlite', sqlitePath },
    async cleanup() {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgresTestDb(): Promise<TestDb> {
  const serverUrl = await postgresServerUrl();
  const name = `allot_test_${randomBytes(6).toString('hex')}`;
  await asAdmin(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const db = await openPostgres(databaseUrl);
  return {
    db,
    config: { dialect: 'postgres', databaseUrl },
    async cleanup() {
      await db.close();
      // FORCE: a server under test may still hold connections.
      await asAdmin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

let embedded: Promise<EmbeddedPostgresServer> | undefined;

/** The PostgreSQL server test databases are created on. */
export async function postgresServerUrl(): Promise<string> {
  const configured = process.env.ALLOT_TEST_DATABASE_URL;
  if (configured) return configured;
  embedded ??= startEmbeddedPostgres();
  return (await embedded).url;
}

async function asAdmin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
