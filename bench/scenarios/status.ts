/**
 * Status latency: a subscription with a year of history (365 daily rollups,
 * 1M events, eleven rolled periods) against one started the same day with a
 * single day of usage. Both read with include_history=true; the clock is
 * frozen late in the year-old subscription's month, so its current period
 * holds about 30 of the rollups.
 */
import { join } from 'node:path';
import { DAY_MS } from '../../src/domain/clock.ts';
import type { BenchSettings } from '../config.ts';
import { AllotClient, MASTER_KEY } from '../client.ts';
import { measureLatency, type LatencyResult } from '../latency.ts';
import { startAllot } from '../processes.ts';
import { progress, type Figure } from '../report.ts';
import { seedHistory } from '../seed.ts';

const START = Date.parse('2025-01-15T12:00:00.000Z');
const NOW = START + 364 * DAY_MS;
const iso = (ms: number) => new Date(ms).toISOString();

export interface StatusOutcome {
  oneDay: LatencyResult;
  oneYear: LatencyResult;
}

export async function measureStatus(settings: BenchSettings, dir: string): Promise<StatusOutcome> {
  const dbPath = join(dir, 'status.db');
  const env = { ALLOT_DB: dbPath, ALLOT_MASTER_KEY: MASTER_KEY };
  let server = await startAllot({ ...env, ALLOT_TEST_CLOCK: iso(START) });
  const admin = new AllotClient(server.url);
  await admin.plan('status-plan', 2_000_000_000);
  const yearId = await admin.subscribe('status', 'year', 'status-plan');
  await admin.setClock(iso(NOW - 2 * 3600_000));
  const dayId = await admin.subscribe('status', 'day', 'status-plan');
  await admin.setClock(iso(NOW));
  await admin.call('GET', '/v1/subscriptions/status/year/status');
  await server.stop();

  const perDay = Math.round(settings.statusEvents / 365);
  await progress.around(`seeding ${settings.statusEvents.toLocaleString('en')} events, 365 daily rollups`, async () => {
    seedHistory(dbPath, yearId, { firstDayNoon: START, days: 365, events: settings.statusEvents });
    seedHistory(dbPath, dayId, { firstDayNoon: NOW, days: 1, events: perDay });
  });

  server = await startAllot({ ...env, ALLOT_TEST_CLOCK: iso(NOW) });
  try {
    const headers = { authorization: `Bearer ${MASTER_KEY}` };
    const path = (user: string) => `/v1/subscriptions/status/${user}/status?include_history=true`;
    await measureLatency('status warm-up', server.url, path('day'), headers, 1);
    const half = settings.statusSeconds / 2;
    const rounds: Array<{ day: LatencyResult; year: LatencyResult }> = [];
    for (let i = 0; i < 2; i++) {
      rounds.push({
        day: await measureLatency('status latency, one day of history', server.url, path('day'), headers, half),
        year: await measureLatency('status latency, a year of history', server.url, path('year'), headers, half),
      });
    }
    const merge = (a: LatencyResult, b: LatencyResult): LatencyResult => ({
      requests: a.requests + b.requests,
      meanMs: (a.meanMs * a.requests + b.meanMs * b.requests) / (a.requests + b.requests),
      p50Ms: (a.p50Ms + b.p50Ms) / 2,
      p99Ms: Math.max(a.p99Ms, b.p99Ms),
      non2xx: a.non2xx + b.non2xx,
    });
    return { oneDay: merge(rounds[0]!.day, rounds[1]!.day), oneYear: merge(rounds[0]!.year, rounds[1]!.year) };
  } finally {
    await server.stop();
  }
}

export function statusFigures(outcome: StatusOutcome): Figure[] {
  const ratio = outcome.oneYear.meanMs / outcome.oneDay.meanMs;
  const ok = outcome.oneDay.non2xx === 0 && outcome.oneYear.non2xx === 0;
  return [
    { name: 'status latency, one day of history (mean)', value: outcome.oneDay.meanMs, unit: 'ms', target: '', pass: null, detail: { ...outcome.oneDay } },
    { name: 'status latency, a year of history (mean)', value: outcome.oneYear.meanMs, unit: 'ms', target: '', pass: null, detail: { ...outcome.oneYear } },
    { name: 'status latency, year / day', value: ratio, unit: '×', target: '≤ 1.5×', pass: ok && ratio <= 1.5 },
  ];
}
