/**
 * `npm run bench`: the whole benchmark. Starts its own servers (the bare
 * baseline and allot, as child processes), runs every scenario, prints a
 * table of each figure with its target and writes the results to
 * bench/results/<timestamp>.json and bench/results/latest.json.
 * Settings: see config.ts (BENCH_SCALE, BENCH_ONLY, BENCH_POSTGRES).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AllotClient, MASTER_KEY } from './client.ts';
import { loadSettings } from './config.ts';
import type { LedgerCheck } from './ledger.ts';
import { startAllot } from './processes.ts';
import { machine, progress, table, writeResults, type Figure } from './report.ts';
import { hotFigures, measureHot } from './scenarios/hot.ts';
import { measurePostgres, postgresFigures } from './scenarios/postgres.ts';
import { measureStatus, statusFigures } from './scenarios/status.ts';
import { measureSweep, sweepFigures } from './scenarios/sweep.ts';
import { measureRecorded, measureReference, setUpUsageShop, usageFigures } from './scenarios/usage.ts';

const settings = loadSettings();
const wanted = (name: string) => settings.only === null || settings.only.has(name);
const startedAt = new Date().toISOString();
const figures: Figure[] = [];
const ledgers: LedgerCheck[] = [];
const dir = await mkdtemp(join(tmpdir(), 'allot-bench-'));

const steps = { throughput: 8, hot: 2, status: 6, sweep: 2, postgres: settings.postgres ? 11 : 0 };
progress.plan(Object.entries(steps).reduce((sum, [name, n]) => sum + (wanted(name) ? n : 0), 0));
const m = machine();
console.log(`allot benchmark, scale ${settings.scale}: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, Node ${m.node}`);

try {
  if (wanted('throughput') || wanted('hot')) {
    const references = wanted('throughput')
      ? { baseline: await measureReference(settings, 'baseline'), floor: await measureReference(settings, 'floor') }
      : undefined;
    const dbPath = join(dir, 'usage.db');
    const server = await startAllot({ ALLOT_DB: dbPath, ALLOT_MASTER_KEY: MASTER_KEY });
    try {
      const admin = new AllotClient(server.url);
      const shopKey = await setUpUsageShop(admin);
      let recordedRps: number | undefined;
      if (references) {
        const recorded = await measureRecorded(settings, server, shopKey, dbPath);
        recordedRps = recorded.measured.rps;
        figures.push(...usageFigures(settings, references, recorded));
        ledgers.push(recorded.ledger);
      }
      if (wanted('hot')) {
        const hot = await measureHot(settings, server, admin, dbPath);
        figures.push(...hotFigures(hot, recordedRps));
        ledgers.push(...hot.ledgers);
      }
    } finally {
      await server.stop();
    }
  }
  if (wanted('status')) figures.push(...statusFigures(await measureStatus(settings, dir)));
  if (wanted('sweep')) figures.push(...sweepFigures(await measureSweep(settings, dir)));
  if (wanted('postgres') && settings.postgres) {
    try {
      const outcome = await measurePostgres(settings);
      figures.push(...postgresFigures(outcome));
      ledgers.push(...outcome.ledgers);
    } catch (error) {
      // Keep the figures already measured: report the failure as a figure of its own.
      figures.push({ name: 'PostgreSQL scenario', value: 0, unit: 'failed', target: 'runs', pass: false, detail: { error: String(error) } });
    }
  }
} finally {
  progress.stop();
  await rm(dir, { recursive: true, force: true });
}

for (const ledger of ledgers) {
  figures.push({
    name: `ledger: ${ledger.scenario}`, value: ledger.acked_tokens, unit: 'tokens acked',
    target: 'stored = counted = acked', pass: ledger.ok,
    detail: { ...ledger },
  });
}

console.log(`\n${table(figures)}\n`);
for (const l of ledgers) {
  console.log(`ledger ${l.scenario}: ${l.acked_events} events / ${l.acked_tokens} tokens acknowledged; stored ${l.events} events / ${l.event_tokens} tokens; subscriptions count ${l.used_tokens} used, ${l.reserved_tokens} reserved: ${l.ok ? 'exact' : 'MISMATCH'}`);
}
const file = writeResults({ started_at: startedAt, settings: { ...settings, only: settings.only && [...settings.only] }, figures, ledger: ledgers });
console.log(`\nresults: ${file}`);
if (figures.some((f) => f.pass === false)) process.exitCode = 1;
