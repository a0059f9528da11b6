/** The renewal sweep: 100k subscriptions fall due together; time one POST /v1/renewals/run. */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DAY_MS } from '../../src/domain/clock.ts';
import type { BenchSettings } from '../config.ts';
import { AllotClient, MASTER_KEY } from '../client.ts';
import { startAllot } from '../processes.ts';
import { progress, type Figure } from '../report.ts';
import { cloneSubscriptions } from '../seed.ts';

const START = Date.parse('2025-01-15T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

export interface SweepOutcome {
  subscriptions: number;
  seconds: number;
  rolled: number;
  summaries: number;
}

export async function measureSweep(settings: BenchSettings, dir: string): Promise<SweepOutcome> {
  const dbPath = join(dir, 'sweep.db');
  const env = { ALLOT_DB: dbPath, ALLOT_MASTER_KEY: MASTER_KEY };
  let server = await startAllot({ ...env, ALLOT_TEST_CLOCK: iso(START) });
  const admin = new AllotClient(server.url);
  await admin.plan('sweep-plan', 100_000);
  const templateId = await admin.subscribe('sweep', 'user', 'sweep-plan');
  await server.stop();
  await progress.around(`seeding ${settings.sweepSubscriptions.toLocaleString('en')} due subscriptions`, async () =>
    cloneSubscriptions(dbPath, templateId, settings.sweepSubscriptions));

  server = await startAllot({ ...env, ALLOT_TEST_CLOCK: iso(START + 40 * DAY_MS) });
  try {
    const started = process.hrtime.bigint();
    const report = await progress.around(`renewal sweep of ${settings.sweepSubscriptions.toLocaleString('en')} subscriptions`, () =>
      new AllotClient(server.url).call<{ subscriptions_rolled: number }>('POST', '/v1/renewals/run'));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const db = new Database(dbPath, { readonly: true });
    const summaries = (db.prepare('SELECT COUNT(*) AS n FROM period_summaries').get() as { n: number }).n;
    db.close();
    return { subscriptions: settings.sweepSubscriptions, seconds, rolled: report.subscriptions_rolled, summaries };
  } finally {
    await server.stop();
  }
}

export function sweepFigures(outcome: SweepOutcome): Figure[] {
  const complete = outcome.summaries === outcome.subscriptions;
  const limit = 10 * (outcome.subscriptions / 100_000);
  return [{
    name: `renewal sweep, ${outcome.subscriptions.toLocaleString('en')} due subscriptions (SQLite)`,
    value: outcome.seconds, unit: 's', target: `< ${limit.toFixed(limit < 10 ? 1 : 0)} s, every one rolled`,
    pass: complete && outcome.seconds < limit,
    detail: { ...outcome },
  }];
}
