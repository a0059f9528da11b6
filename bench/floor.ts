/**
 * The floor: the least a server can do for `POST /v1/usage` on allot's stack
 * (Fastify, better-sqlite3, allot's schema) and still answer only what is
 * durable. No key, no validation, no idempotency check, no unit of work: the
 * three statements of allot's fast path (the live subscription's counters,
 * the daily rollup, the event) for every event that arrived together, in one
 * transaction, answered after an fdatasync of the write-ahead log that
 * started after its COMMIT, as allot answers. It measures what the machine
 * allows, so allot's own figure can be read against it. Run as a child
 * process by the benchmark; prints its address on stdout once listening.
 */
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { fdatasync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storedCounters } from '../src/service/usage.ts';
import { migrations } from '../src/store/migrations.ts';

const USERS = 100;
const DAY_MS = 86_400_000;

const dir = mkdtempSync(join(tmpdir(), 'allot-floor-'));
const path = join(dir, 'floor.db');
const db = new Database(path);
db.pragma('journal_mode = WAL');
// As allot: the log is synced by an fdatasync of our own, checkpoints by SQLite.
db.pragma('synchronous = NORMAL');
for (const migration of migrations) db.exec(migration.sql('sqlite'));

const now = Date.now();
db.prepare(`INSERT INTO plans (id, display_name, allocated_tokens, price_minor, currency, billing_cycle, allowance_interval, tier, created_at)
  VALUES ('floor', 'Floor', 1000000000000, 1000, 'USD', 'monthly', 'monthly', 1, ?)`).run(now);
const subscribe = db.prepare(`INSERT INTO subscriptions (id, shop_id, user_id, plan_id, plan_display_name, status, billing_cycle,
  allowance_interval, allocated_tokens, price_minor, currency, started_at, period_anchor, period_index, current_period_start,
  current_period_end, billing_anchor, plan_started_at, created_at, updated_at)
  VALUES (?, 'bench', ?, 'floor', 'Floor', 'active', 'monthly', 'monthly', 1000000000000, 1000, 'USD', ?, ?, 0, ?, ?, ?, ?, ?, ?)`);
for (let i = 0; i < USERS; i++) subscribe.run(`sub-${i}`, `user-${i}`, now, now, now, now + 30 * DAY_MS, now, now, now, now);

const statements = {
  begin: db.prepare('BEGIN IMMEDIATE'),
  commit: db.prepare('COMMIT'),
  counters: db.prepare(`UPDATE subscriptions SET used_tokens = used_tokens + ?, queries = queries + 1
    WHERE shop_id = ? AND user_id = ? AND status IN ('active', 'suspended') AND reserved_tokens = 0 AND current_period_end > ?
    RETURNING id, current_period_start, used_tokens, reserved_tokens, allocated_tokens`),
  rollup: db.prepare(`INSERT INTO daily_usage (subscription_id, period_start, day, tokens, queries) VALUES (?, ?, ?, ?, 1)
    ON CONFLICT (subscription_id, period_start, day) DO UPDATE SET tokens = daily_usage.tokens + excluded.tokens, queries = daily_usage.queries + 1`),
  event: db.prepare(`INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, model, enforce, period_start, day,
    created_at, request_hash, result) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, '', ?) ON CONFLICT (shop_id, event_id) DO NOTHING`),
};

interface Usage {
  event_id: string;
  shop_id: string;
  user_id: string;
  tokens: number;
  model?: string;
}

interface Counters {
  id: string;
  current_period_start: number;
  used_tokens: number;
  reserved_tokens: number;
  allocated_tokens: number;
}

type Answer = (body: string) => void;

let queue: Array<{ usage: Usage; answer: Answer }> = [];
let scheduled = false;
let syncing = false;
let walFd: number | undefined;

function record(usage: Usage, at: number): string {
  const c = statements.counters.get(usage.tokens, usage.shop_id, usage.user_id, at) as Counters;
  const day = new Date(at).toISOString().slice(0, 10);
  statements.rollup.run(c.id, c.current_period_start, day, usage.tokens);
  statements.event.run(usage.shop_id, usage.event_id, c.id, usage.user_id, usage.tokens, usage.model ?? null, c.current_period_start, day, at,
    storedCounters(c));
  return JSON.stringify({
    event_id: usage.event_id, subscription_id: c.id, tokens: usage.tokens, used_tokens: c.used_tokens, reserved_tokens: c.reserved_tokens,
    remaining_tokens: c.allocated_tokens - c.used_tokens - c.reserved_tokens, allocated_tokens: c.allocated_tokens, duplicate: false,
  });
}

/** Runs what arrived as one transaction; waits while the log is syncing (as allot does). */
function runBatch(): void {
  scheduled = false;
  if (syncing || queue.length === 0) return;
  const batch = queue;
  queue = [];
  const at = Date.now();
  statements.begin.run();
  const bodies = batch.map(({ usage }) => record(usage, at));
  statements.commit.run();
  syncing = true;
  walFd ??= openSync(`${path}-wal`, 'r');
  fdatasync(walFd, (error) => {
    if (error) throw error;
    syncing = false;
    batch.forEach(({ answer }, i) => answer(bodies[i]!));
    schedule();
  });
}

function schedule(): void {
  if (scheduled || syncing || queue.length === 0) return;
  scheduled = true;
  setImmediate(runBatch);
}

const app = Fastify({ logger: false });
app.post('/v1/usage', (request, reply) => {
  queue.push({ usage: request.body as Usage, answer: (body) => void reply.type('application/json').send(body) });
  schedule();
  return reply;
});

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}));
