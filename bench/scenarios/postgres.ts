/**
 * allot on PostgreSQL, each figure next to a plain `pg` client measured in
 * the same run on the same database server:
 *
 * - recorded usage through one allot server, 32 connections;
 * - the reference: a plain client doing only one guarded `UPDATE … RETURNING`
 *   per event, autocommit, 32 at once over 32 connections (one per event in
 *   flight, so it never waits for a connection): the least any exact
 *   per-event design can do;
 * - a plain client running the statements allot ran for one event before
 *   group commit (one transaction an event), 32 at once over a pool of 10,
 *   allot's own default;
 * - enforced usage and holds + commits on one hot subscription, 64 connections;
 * - recorded usage through two allot servers on the same database, the 32
 *   connections split between them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../test/support/postgres-server.ts';
import { cpuAcross, ownCpu, postgresCpu, processCpu } from '../cpu.ts';
import type { BenchSettings } from '../config.ts';
import { AllotClient, MASTER_KEY } from '../client.ts';
import { checkLedger, postgresLedger, type LedgerCheck } from '../ledger.ts';
import { runLoad, type LoadResult } from '../load.ts';
import { startAllot, type ServerProcess } from '../processes.ts';
import { progress, type Figure } from '../report.ts';
import { BENCH_SHOP, setUpUsageShop, USERS } from './usage.ts';
import { holdThenCommitSteps, usageStep } from './steps.ts';
import { sha256 } from '../../src/service/hash.ts';

/** The allot server's pool (allot's default) and the plain client's pool running allot's former statements. */
const POOL_SIZE = 10;
/** Mean tokens per request of `usageStep` (1…50). */
const MEAN_TOKENS = 25.5;

/** CPU seconds spent during a measured run: by PostgreSQL, and by the client (allot's server(s), or the plain client). */
interface Cpu {
  postgres: number;
  client: number;
}

interface PlainResult {
  requests: number;
  seconds: number;
  rps: number;
  pool: number;
  cpu: Cpu;
}

type Measured = LoadResult & { cpu: Cpu };

export interface PostgresOutcome {
  allot: Measured;
  reference: PlainResult;
  plain: PlainResult;
  enforced: LoadResult;
  holds: LoadResult;
  twoServers: Measured;
  ledgers: LedgerCheck[];
}

/** Runs `work` and adds the CPU PostgreSQL and the given processes spent meanwhile. */
async function withCpu<T extends object>(pg: EmbeddedPostgresServer, client: () => number, work: () => Promise<T>): Promise<T & { cpu: Cpu }> {
  const { result, cpu } = await cpuAcross({ postgres: () => postgresCpu(pg.dataDir), client }, work);
  return Object.assign(result, { cpu: { postgres: cpu.postgres!, client: cpu.client! } });
}

/** The least an exact per-event design does: one guarded counter update, autocommit. */
async function referenceEvent(pool: pg.Pool, _keyId: string, _eventId: string, userId: string, tokens: number, now: number): Promise<void> {
  const updated = await pool.query(
    `UPDATE subscriptions SET used_tokens = used_tokens + $1, queries = queries + 1
     WHERE shop_id = $2 AND user_id = $3 AND status IN ('active', 'suspended') AND reserved_tokens = 0 AND current_period_end > $4
       AND used_tokens + reserved_tokens + $5 <= 1000000000000000
     RETURNING used_tokens, reserved_tokens, allocated_tokens`,
    [tokens, BENCH_SHOP, userId, now, tokens],
  );
  if (updated.rowCount !== 1) throw new Error(`reference: no live subscription for ${userId}`);
}

/**
 * The statements allot ran for one recorded event before group commit, in
 * its order: one transaction checks the key is live, meters the live
 * subscription in one statement, adds to the day's rollup and stores the event.
 */
async function formerEvent(pool: pg.Pool, keyId: string, eventId: string, userId: string, tokens: number, now: number): Promise<void> {
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

type PlainEvent = typeof referenceEvent;

async function runPlain(
  label: string, event: PlainEvent, server: EmbeddedPostgresServer, url: string, key: string, amount: number, concurrency: number, poolSize: number,
): Promise<PlainResult> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // Idle connections end when the embedded server stops; that is not an error of the run.
  pool.on('error', () => undefined);
  const keyId = ((await pool.query('SELECT id FROM api_keys WHERE secret_hash = $1', [sha256(key)])).rows[0] as { id: string }).id;
  // Open every connection before the clock starts, as allot's pool is warm when it is measured.
  const warm = await Promise.all(Array.from({ length: poolSize }, () => pool.connect()));
  for (const client of warm) client.release();
  const tag = randomBytes(3).toString('hex');
  let next = 0;
  let done = 0;
  progress.start(label, () => `${done.toLocaleString('en')}/${amount.toLocaleString('en')} events`);
  const started = process.hrtime.bigint();
  let measured;
  try {
    measured = await withCpu(server, ownCpu, async () => {
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < amount) {
          const seq = next++;
          await event(pool, keyId, `plain-${tag}-${seq}`, USERS[seq % USERS.length]!, 1 + (seq % 50), Date.now());
          done++;
        }
      }));
      return { seconds: Number(process.hrtime.bigint() - started) / 1e9 };
    });
  } finally {
    progress.stop();
    await pool.end();
  }
  return { requests: done, seconds: measured.seconds, rps: done / measured.seconds, pool: poolSize, cpu: measured.cpu };
}

async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

const allotEnv = (databaseUrl: string) => ({ DATABASE_URL: databaseUrl, ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_PG_POOL_SIZE: String(POOL_SIZE) });

/** Runs loads on several servers at once; answers them as one (requests summed over the longest run). */
async function runLoads(loads: Array<Parameters<typeof runLoad>[0]>): Promise<LoadResult> {
  const results = await Promise.all(loads.map((options) => runLoad(options)));
  const seconds = Math.max(...results.map((r) => r.seconds));
  const requests = results.reduce((sum, r) => sum + r.requests, 0);
  const statuses: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  return {
    requests, seconds, rps: requests / seconds, statuses,
    latencyMs: results[0]!.latencyMs,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    ackedTokens: results.reduce((sum, r) => sum + r.ackedTokens, 0),
    ackedRequests: results.reduce((sum, r) => sum + r.ackedRequests, 0),
  };
}

/** Recorded usage through one server, then through two on a database of their own; each with its ledger. */
async function measureRecordedPg(
  settings: BenchSettings, pgServer: EmbeddedPostgresServer,
): Promise<{ allot: Measured; twoServers: Measured; key: string; databaseUrl: string; ledgers: LedgerCheck[] }> {
  const serverUrl = pgServer.url;
  const databaseUrl = await createDatabase(serverUrl, 'allot_bench');
  const allot = await startAllot(allotEnv(databaseUrl));
  let key: string;
  let measured: Measured;
  let ledger: LedgerCheck;
  try {
    key = await setUpUsageShop(new AllotClient(allot.url));
    const step = usageStep({ shopId: BENCH_SHOP, users: USERS, prefix: 'pg' });
    const common = { url: allot.url, connections: settings.connections, headers: { authorization: `Bearer ${key}` }, steps: [step] };
    const warm = await runLoad({ ...common, label: 'PostgreSQL warm-up', amount: settings.warmupRequests });
    measured = await withCpu(pgServer, () => processCpu(allot.pid), () =>
      runLoad({ ...common, label: 'allot on PostgreSQL: POST /v1/usage, 32 conn', amount: settings.postgresRequests }));
    ledger = checkLedger('recorded usage (PostgreSQL)', await postgresLedger(databaseUrl, BENCH_SHOP), {
      events: warm.ackedRequests + measured.ackedRequests, tokens: warm.ackedTokens + measured.ackedTokens,
    });
  } finally {
    await allot.stop();
  }

  // Two servers: a database of their own, so the tables are as large as the single server's were.
  const twoUrl = await createDatabase(serverUrl, 'allot_bench_two');
  const servers: ServerProcess[] = [];
  try {
    servers.push(await startAllot(allotEnv(twoUrl)), await startAllot(allotEnv(twoUrl)));
    const twoKey = await setUpUsageShop(new AllotClient(servers[0]!.url));
    const half = Math.max(1, settings.connections / 2);
    // One step per server for the whole run: a step numbers its events, and warm-up and measured run must not repeat them.
    const steps = servers.map((_, i) => usageStep({ shopId: BENCH_SHOP, users: USERS, prefix: `two${i}` }));
    const loads = (label: string, amount: number) => servers.map((server, i) => ({
      url: server.url, connections: half, headers: { authorization: `Bearer ${twoKey}` },
      steps: [steps[i]!], label, amount: amount / 2,
    }));
    const warm = await runLoads(loads('two servers warm-up', settings.warmupRequests));
    const two = await withCpu(pgServer, () => servers.reduce((sum, server) => sum + processCpu(server.pid), 0), () =>
      runLoads(loads('two allot servers on one PostgreSQL, 2 × 16 conn', settings.postgresRequests)));
    const twoLedger = checkLedger('recorded usage, two servers (PostgreSQL)', await postgresLedger(twoUrl, BENCH_SHOP), {
      events: warm.ackedRequests + two.ackedRequests, tokens: warm.ackedTokens + two.ackedTokens,
    });
    return { allot: measured, twoServers: two, key, databaseUrl, ledgers: [ledger, twoLedger] };
  } finally {
    for (const server of servers) await server.stop();
  }
}

/** Enforced usage (about a tenth refused) and holds settled by commits, each on one hot subscription. */
async function measureHotPg(settings: BenchSettings, databaseUrl: string): Promise<{ enforced: LoadResult; holds: LoadResult; ledgers: LedgerCheck[] }> {
  const server = await startAllot(allotEnv(databaseUrl));
  try {
    const admin = new AllotClient(server.url);
    const amount = settings.postgresRequests;
    const allowance = Math.round(amount * MEAN_TOKENS * 0.9);
    await admin.plan('bench-hot', allowance);
    await admin.plan('bench-hold', 1_000_000_000_000);
    const enforceKey = await admin.shopKey('hot-enforce');
    const holdKey = await admin.shopKey('hot-hold');
    await admin.subscribe('hot-enforce', 'hot-user', 'bench-hot');
    await admin.subscribe('hot-hold', 'hot-user', 'bench-hold');
    const enforced = await runLoad({
      label: 'PostgreSQL: enforced usage, one subscription, 64 conn', url: server.url, connections: settings.hotConnections,
      amount, headers: { authorization: `Bearer ${enforceKey}` },
      steps: [usageStep({ shopId: 'hot-enforce', users: ['hot-user'], prefix: 'pgenf', enforce: true })],
    });
    const holds = await runLoad({
      label: 'PostgreSQL: holds + commits, one subscription, 64 conn', url: server.url, connections: settings.hotConnections,
      amount, headers: { authorization: `Bearer ${holdKey}` },
      steps: holdThenCommitSteps({ shopId: 'hot-hold', userId: 'hot-user', prefix: 'pghold' }),
    });
    const enforcedLedger = checkLedger('enforced usage (PostgreSQL)', await postgresLedger(databaseUrl, 'hot-enforce'), {
      events: enforced.ackedRequests, tokens: enforced.ackedTokens,
    });
    enforcedLedger.ok &&= enforcedLedger.used_tokens <= allowance && enforced.errors === 0
      && enforced.ackedRequests + (enforced.statuses['429'] ?? 0) === enforced.requests;
    const commits = holds.statuses['200'] ?? 0;
    const holdsLedger = checkLedger('holds + commits (PostgreSQL)', await postgresLedger(databaseUrl, 'hot-hold'), {
      events: commits, tokens: holds.ackedTokens,
    });
    holdsLedger.ok &&= holds.errors === 0 && holds.ackedRequests === holds.requests;
    return { enforced, holds, ledgers: [enforcedLedger, holdsLedger] };
  } finally {
    await server.stop();
  }
}

export async function measurePostgres(settings: BenchSettings): Promise<PostgresOutcome> {
  const server = await progress.around('starting embedded PostgreSQL', () => startEmbeddedPostgres());
  try {
    const recorded = await measureRecordedPg(settings, server);
    const hot = await measureHotPg(settings, recorded.databaseUrl);
    const amount = settings.postgresRequests;
    const concurrency = settings.connections;
    const reference = await runPlain(
      `reference: one UPDATE … RETURNING an event, ${concurrency} concurrent`, referenceEvent, server, recorded.databaseUrl, recorded.key,
      amount, concurrency, concurrency,
    );
    const plain = await runPlain(
      `plain pg client, allot's former statements, ${concurrency} concurrent`, formerEvent, server, recorded.databaseUrl, recorded.key,
      amount, concurrency, POOL_SIZE,
    );
    return {
      allot: recorded.allot, reference, plain, enforced: hot.enforced, holds: hot.holds, twoServers: recorded.twoServers,
      ledgers: [...recorded.ledgers, ...hot.ledgers],
    };
  } finally {
    await server.destroy();
  }
}

export function postgresFigures(o: PostgresOutcome): Figure[] {
  const toReference = o.allot.rps / o.reference.rps;
  const toPlain = o.allot.rps / o.plain.rps;
  const enforced = o.enforced.rps / o.allot.rps;
  const holds = o.holds.rps / o.allot.rps;
  const two = o.twoServers.rps / o.allot.rps;
  return [
    { name: 'POST /v1/usage recorded, PostgreSQL, 32 conn', value: o.allot.rps, unit: 'req/s', target: '', pass: null, detail: { ...o.allot } },
    {
      name: 'reference: one UPDATE … RETURNING an event, autocommit, 32 conn', value: o.reference.rps, unit: 'events/s',
      target: '', pass: null, detail: { ...o.reference },
    },
    { name: 'allot on PostgreSQL / reference', value: toReference, unit: '×', target: '≥ 0.7× (aim 1×)', pass: toReference >= 0.7 },
    {
      name: `plain pg client, allot's former SQL, 32 concurrent, pool ${POOL_SIZE}`, value: o.plain.rps, unit: 'events/s',
      target: '', pass: null, detail: { ...o.plain },
    },
    { name: 'allot on PostgreSQL / plain pg client, former SQL', value: toPlain, unit: '×', target: '≥ 2.16× (3 × 0.72)', pass: toPlain >= 2.16 },
    {
      name: 'PostgreSQL: enforced usage, 1 hot subscription, 64 conn', value: o.enforced.rps, unit: 'req/s',
      target: `≥ 0.5× recorded (${enforced.toFixed(2)}×)`, pass: enforced >= 0.5, detail: { ...o.enforced },
    },
    {
      name: 'PostgreSQL: holds + commits, 1 hot subscription, 64 conn', value: o.holds.rps, unit: 'req/s',
      target: `reported (${holds.toFixed(2)}× recorded)`, pass: null, detail: { ...o.holds },
    },
    {
      name: 'PostgreSQL: two allot servers, 2 × 16 conn', value: o.twoServers.rps, unit: 'req/s',
      target: `> 1× one server (${two.toFixed(2)}×)`, pass: two > 1, detail: { ...o.twoServers },
    },
    ...cpuFigures(o),
  ];
}

/** µs of CPU per event: less sensitive than req/s to other work on a shared machine. */
function cpuFigures(o: PostgresOutcome): Figure[] {
  const perEvent = (seconds: number, events: number) => (seconds / events) * 1e6;
  const pgAllot = perEvent(o.allot.cpu.postgres, o.allot.requests);
  const pgReference = perEvent(o.reference.cpu.postgres, o.reference.requests);
  const pgFormer = perEvent(o.plain.cpu.postgres, o.plain.requests);
  const pgTwo = perEvent(o.twoServers.cpu.postgres, o.twoServers.requests);
  const info = (name: string, value: number, unit: string): Figure => ({ name, value, unit, target: '', pass: null });
  return [
    info('PostgreSQL CPU per event: allot, 1 server', pgAllot, 'µs'),
    info('PostgreSQL CPU per event: allot, 2 servers', pgTwo, 'µs'),
    info('PostgreSQL CPU per event: reference', pgReference, 'µs'),
    info("PostgreSQL CPU per event: plain client, allot's former SQL", pgFormer, 'µs'),
    info('allot server CPU per event (HTTP included)', perEvent(o.allot.cpu.client, o.allot.requests), 'µs'),
    info('reference client CPU per event', perEvent(o.reference.cpu.client, o.reference.requests), 'µs'),
    info('PostgreSQL CPU per event, reference / allot', pgReference / pgAllot, '×'),
  ];
}
