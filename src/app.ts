/** Opens the configured store and wires allot's services around it. */
import { parseInstant, systemClock, TestClock, type Clock } from './domain/clock.ts';
import type { Config } from './config.ts';
import { Services } from './service/context.ts';
import type { Db } from './store/db.ts';
import { migrateDatabase } from './store/migrations.ts';
import { openPostgres } from './store/postgres/db.ts';
import { openSqlite } from './store/sqlite/db.ts';

export async function openDatabase(config: Config): Promise<Db> {
  if (config.DATABASE_URL) return openPostgres(config.DATABASE_URL, { poolSize: config.ALLOT_PG_POOL_SIZE });
  return openSqlite(config.ALLOT_DB, { synchronous: config.ALLOT_SQLITE_SYNC });
}

export function clockFor(config: Config): Clock {
  return config.ALLOT_TEST_CLOCK ? new TestClock(parseInstant(config.ALLOT_TEST_CLOCK) ?? 0) : systemClock;
}

export async function openServices(config: Config, options: { migrate?: boolean } = {}): Promise<Services> {
  const db = await openDatabase(config);
  if (options.migrate ?? true) await migrateDatabase(db);
  return new Services(db, clockFor(config), {
    highTokensPerQuery: config.ALLOT_HIGH_TOKENS_PER_QUERY,
    maxActiveHolds: config.ALLOT_MAX_ACTIVE_HOLDS,
  });
}
