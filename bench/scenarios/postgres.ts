/**
 * Recorded usage on PostgreSQL through allot, next to a plain pg client
 * running the statements allot runs for one event (one transaction) at the
 * same concurrency over a pool of the same size.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../test/support/postgres-server.ts';
import type { BenchSettings } from '../config.ts';
import { AllotClient, MASTER_KEY } from '../client.ts';
import { checkLedger, postgresLedger, type LedgerCheck } from '../ledger.ts';
import { runLoad, type LoadResult } from '../load.ts';
import { startAllot } from '../processes.ts';
import { progress, type Figure } from '../report.ts';
import { BENCH_SHOP, setUpUsageShop, USERS } from './usage.ts';
import { usageStep } from './steps.ts';
import { sha256 } from '../../src/service/hash.ts';

const POOL_SIZE = 10;

export interface PostgresOutcome {
  allot: LoadResult;
  plain: { requests: number; seconds: number; rps: number };
  ledger: LedgerCheck;
}

/**
 * The statements of one recorded event, in allot's order: the key's grant is
 * known (allot remembers it after its first request), so one transaction
 * checks the key is live, meters the live subscription in one statement,
 * adds to the day's rollup and stores the event.
 */
async function plainEvent(pool: pg.Pool, keyId: string, eventId: string, userId: string, tokens: number, now: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT 1 AS live FROM api_keys WHERE id = $1 AND revoked_at IS NULL', [keyId]);
    const sub = (await client.query(
      `UPDATE subscriptions SET used_tokens = used_tokens + $1, queries = queries + 1
       WHERE shop_id = $2 AND user_id = $3 AND status IN ('active', 'suspended') AND reserved_tokens = 0 AND current_period_end > $4
         AND used_tokens + reserved_tokens + $5 <= 1000000000000000
       RETURNING id, current_period_start, used_tokens, reserved_tokens, allocated_tokens, queries`,
      [tokens, BENCH_SHOP, userId, now, tokens],
    )).rows[0] as { id: string; current_period_start: string; used_tokens: string; reserved_tokens: string; allocated_tokens: string };
    const day = new Date(now).toISOString().slice(0, 10);
    await client.query(
      `INSERT INTO daily_usage (subscription_id, period_start, day, tokens, queries) VALUES ($1, $2, $3, $4, 1)
       ON CONFLICT (subscription_id, period_start, day)
       DO UPDATE SET tokens = daily_usage.tokens + excluded.tokens, queries = daily_usage.queries + 1`,
      [sub.id, sub.current_period_start, day, tokens],
    );
    await client.query(
      `INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, input_tokens, output_tokens, model,
         enforce, reservation_id, period_start, day, created_at, request_hash, result)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (shop_id, event_id) DO NOTHING`,
      [BENCH_SHOP, eventId, sub.id, userId, tokens, null, null, 'bench-model', 0, null, sub.current_period_start, day, now,
        '', `[${sub.used_tokens},${sub.reserved_tokens},${sub.allocated_tokens}]`],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

async function runPlain(url: string, key: string, amount: number, concurrency: number) {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  // Idle connections end when the embedded server stops; that is not an error of the run.
  pool.on('error', () => undefined);
  const keyId = ((await pool.query('SELECT id FROM api_keys WHERE secret_hash = $1', [sha256(key)])).rows[0] as { id: string }).id;
  const tag = randomBytes(3).toString('hex');
  let next = 0;
  let done = 0;
  progress.start(`plain pg client, same SQL, ${concurrency} concurrent`, () => `${done.toLocaleString('en')}/${amount.toLocaleString('en')} events`);
  const started = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < amount) {
        const seq = next++;
        await plainEvent(pool, keyId, `plain-${tag}-${seq}`, USERS[seq % USERS.length]!, 1 + (seq % 50), Date.now());
        done++;
      }
    }));
  } finally {
    progress.stop();
    await pool.end();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { requests: done, seconds, rps: done / seconds };
}

export async function measurePostgres(settings: BenchSettings): Promise<PostgresOutcome> {
  const server = await progress.around('starting embedded PostgreSQL', () => startEmbeddedPostgres());
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE DATABASE allot_bench');
    await admin.end();
    const url = new URL(server.url);
    url.pathname = '/allot_bench';
    const databaseUrl = url.toString();
    const allot = await startAllot({ DATABASE_URL: databaseUrl, ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_PG_POOL_SIZE: String(POOL_SIZE) });
    try {
      const key = await setUpUsageShop(new AllotClient(allot.url));
      const step = usageStep({ shopId: BENCH_SHOP, users: USERS, prefix: 'pg' });
      const common = { url: allot.url, connections: settings.connections, headers: { authorization: `Bearer ${key}` }, steps: [step] };
      const warm = await runLoad({ ...common, label: 'PostgreSQL warm-up', amount: settings.warmupRequests });
      const measured = await runLoad({ ...common, label: 'allot on PostgreSQL: POST /v1/usage, 32 conn', amount: settings.postgresRequests });
      const ledger = checkLedger('recorded usage (PostgreSQL)', await postgresLedger(databaseUrl, BENCH_SHOP), {
        events: warm.ackedRequests + measured.ackedRequests, tokens: warm.ackedTokens + measured.ackedTokens,
      });
      await allot.stop();
      const plain = await runPlain(databaseUrl, key, settings.postgresRequests, settings.connections);
      return { allot: measured, plain, ledger };
    } finally {
      await allot.stop();
    }
  } finally {
    await server.destroy();
  }
}

export function postgresFigures(outcome: PostgresOutcome): Figure[] {
  const ratio = outcome.allot.rps / outcome.plain.rps;
  return [
    { name: 'POST /v1/usage recorded, PostgreSQL, 32 conn', value: outcome.allot.rps, unit: 'req/s', target: '', pass: null, detail: { ...outcome.allot } },
    { name: 'plain pg client, same SQL, 32 concurrent', value: outcome.plain.rps, unit: 'events/s', target: '', pass: null, detail: { ...outcome.plain } },
    { name: 'allot on PostgreSQL / plain pg client', value: ratio, unit: '×', target: 'reported', pass: null },
  ];
}
