/**
 * allot's schema, as one static list applied in order (both dialects).
 * Instants are BIGINT epoch milliseconds; days are TEXT YYYY-MM-DD.
 */
import type { Db, Migration } from './db.ts';

const initial = `
CREATE TABLE plans (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  allocated_tokens BIGINT NOT NULL,
  price_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  billing_cycle TEXT NOT NULL,
  allowance_interval TEXT NOT NULL,
  tier INTEGER NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  shop_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  plan_id TEXT NOT NULL REFERENCES plans(id),
  plan_display_name TEXT NOT NULL,
  status TEXT NOT NULL,
  billing_cycle TEXT NOT NULL,
  allowance_interval TEXT NOT NULL,
  allocated_tokens BIGINT NOT NULL,
  price_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  period_anchor BIGINT NOT NULL,
  period_index INTEGER NOT NULL,
  current_period_start BIGINT NOT NULL,
  current_period_end BIGINT NOT NULL,
  billing_anchor BIGINT NOT NULL,
  plan_started_at BIGINT NOT NULL,
  cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
  pending_plan_id TEXT REFERENCES plans(id),
  used_tokens BIGINT NOT NULL DEFAULT 0,
  reserved_tokens BIGINT NOT NULL DEFAULT 0,
  queries BIGINT NOT NULL DEFAULT 0,
  canceled_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (shop_id, user_id) WHERE status IN ('active', 'suspended');
CREATE INDEX subscriptions_by_shop ON subscriptions (shop_id, id);
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status IN ('active', 'suspended');

CREATE TABLE plan_history (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
  seq INTEGER NOT NULL,
  plan_id TEXT NOT NULL,
  allocated_tokens BIGINT NOT NULL,
  price_minor BIGINT NOT NULL,
  start_date BIGINT NOT NULL,
  end_date BIGINT NOT NULL,
  change_reason TEXT NOT NULL,
  PRIMARY KEY (subscription_id, seq)
);

CREATE TABLE usage_events (
  shop_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  tokens BIGINT NOT NULL,
  input_tokens BIGINT,
  output_tokens BIGINT,
  model TEXT,
  enforce INTEGER NOT NULL,
  reservation_id TEXT,
  period_start BIGINT NOT NULL,
  day TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  request_hash TEXT NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (shop_id, event_id)
);
CREATE INDEX usage_events_by_user ON usage_events (shop_id, user_id, created_at);
CREATE INDEX usage_events_by_subscription ON usage_events (subscription_id, period_start);

CREATE TABLE daily_usage (
  subscription_id TEXT NOT NULL,
  period_start BIGINT NOT NULL,
  day TEXT NOT NULL,
  tokens BIGINT NOT NULL,
  queries BIGINT NOT NULL,
  PRIMARY KEY (subscription_id, period_start, day)
);

CREATE TABLE period_summaries (
  subscription_id TEXT NOT NULL,
  period_start BIGINT NOT NULL,
  period_end BIGINT NOT NULL,
  plan_id TEXT NOT NULL,
  allocated_tokens BIGINT NOT NULL,
  used_tokens BIGINT NOT NULL,
  queries BIGINT NOT NULL,
  peak_daily_tokens BIGINT NOT NULL,
  PRIMARY KEY (subscription_id, period_start)
);

CREATE TABLE reservations (
  shop_id TEXT NOT NULL,
  id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  tokens BIGINT NOT NULL,
  status TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  request_hash TEXT NOT NULL,
  committed_tokens BIGINT,
  event_id TEXT,
  commit_hash TEXT,
  commit_result TEXT,
  settled_at BIGINT,
  PRIMARY KEY (shop_id, id)
);
CREATE INDEX reservations_active ON reservations (subscription_id, expires_at) WHERE status = 'active';

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  shop_id TEXT,
  prefix TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);

CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  state TEXT NOT NULL,
  status_code INTEGER,
  response TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at)
`;

/** The period whose counters and daily rollups an import brought in without their events (`allot verify` allows for them). */
const importedPeriod = 'ALTER TABLE subscriptions ADD COLUMN imported_period_start BIGINT';

/**
 * Each usage event touched four B-trees. The per-user and per-subscription
 * indexes put every event on its own page, so each commit wrote several
 * pages per event; one index in time order per shop is appended at its right
 * edge and lists a shop's events in the order `GET /v1/usage` answers them
 * (a user filter reads the shop's events in that order). The new index is
 * built before the old ones go: on PostgreSQL the build blocks writes but not
 * reads, and the drops hold their exclusive lock only until the commit.
 */
const eventsInTimeOrder = `
CREATE INDEX usage_events_by_time ON usage_events (shop_id, created_at, event_id);
DROP INDEX usage_events_by_user;
DROP INDEX usage_events_by_subscription;
`;

/**
 * A user's subscriptions, live or ended, looked up by (shop, user): period
 * history and the latest canceled subscription read them, and without this
 * index each such read walked every subscription of the shop. The counters are not in it, so
 * metering never writes it.
 */
const subscriptionsByUser = 'CREATE INDEX subscriptions_by_user ON subscriptions (shop_id, user_id)';

/**
 * A key is now claimed and answered in the transaction of its work, so no
 * committed key is ever in flight. Earlier versions committed the claim
 * first: a claim left in flight by one of them belongs to a request that was
 * cut off (servers are upgraded together, so none still runs), and whether its
 * work committed cannot be known. Those versions let a retry take such a claim
 * over 60 s after it was made and do the work; deleting the claims keeps that
 * answer, at once, instead of refusing the key for a day with "in flight".
 */
const unansweredKeysForgotten = "DELETE FROM idempotency_keys WHERE state <> 'done'";

/**
 * A shop's tokens per day read each of its subscriptions' daily rollups in a
 * range of days; the primary key orders them by period first, so without this
 * index the read walked every period each subscription ever had. Metering
 * only adds a row to it on a subscription's first event of a day.
 */
const dailyUsageByDay = 'CREATE INDEX daily_usage_by_day ON daily_usage (subscription_id, day)';

/**
 * Model rates (SPEC §10). A model's weights are rows of `model_rates`, one
 * per span of time they were in force (`effective_to` NULL while current);
 * weights are integer millionths, never floats. A usage event keeps the
 * counts it was charged from and the weights it was charged with, so its
 * charge is replayed, and checked, whatever the rates say later. The
 * by-model rollup keeps a subscription's usage per day and model, so reports
 * by model read a period's rows, not its events.
 */
const modelRates = `
CREATE TABLE model_rates (
  model TEXT NOT NULL,
  effective_from BIGINT NOT NULL,
  effective_to BIGINT,
  input_weight BIGINT NOT NULL,
  cached_input_weight BIGINT NOT NULL,
  output_weight BIGINT NOT NULL,
  PRIMARY KEY (model, effective_from)
);
CREATE UNIQUE INDEX model_rates_current ON model_rates (model) WHERE effective_to IS NULL;

ALTER TABLE usage_events ADD COLUMN cached_input_tokens BIGINT;
ALTER TABLE usage_events ADD COLUMN input_weight BIGINT;
ALTER TABLE usage_events ADD COLUMN cached_input_weight BIGINT;
ALTER TABLE usage_events ADD COLUMN output_weight BIGINT;

CREATE TABLE daily_model_usage (
  subscription_id TEXT NOT NULL,
  period_start BIGINT NOT NULL,
  day TEXT NOT NULL,
  model TEXT NOT NULL,
  events BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  tokens BIGINT NOT NULL,
  PRIMARY KEY (subscription_id, period_start, day, model)
);
`;

export const migrations: readonly Migration[] = [
  { id: '0001_initial', sql: () => initial },
  { id: '0002_imported_period', sql: () => importedPeriod },
  { id: '0003_events_in_time_order', sql: () => eventsInTimeOrder },
  { id: '0004_subscriptions_by_user', sql: () => subscriptionsByUser },
  { id: '0005_unanswered_keys_forgotten', sql: () => unansweredKeysForgotten },
  { id: '0006_daily_usage_by_day', sql: () => dailyUsageByDay },
  { id: '0007_model_rates', sql: () => modelRates },
];

/**
 * Applies allot's migrations, and refuses a database that a newer allot has
 * migrated: that version may store rows this one misreads.
 */
export async function migrateDatabase(db: Db): Promise<string[]> {
  const applied = await db.migrate(migrations);
  const known = new Set(migrations.map((m) => m.id));
  const rows = await db.all<{ id: string }>('SELECT id FROM allot_migrations ORDER BY id');
  const newer = rows.map((r) => r.id).filter((id) => !known.has(id));
  if (newer.length > 0) {
    throw new Error(`the database was migrated by a newer allot (${newer.join(', ')}): run that version or a later one`);
  }
  return applied;
}
