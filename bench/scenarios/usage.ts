/**
 * Recorded usage side by side with the bare baseline and the floor (same
 * requests, same load generator, 32 connections), and the server's memory
 * from the first to the last of the usage events the run sends.
 */
import type { BenchSettings } from '../config.ts';
import { checkLedger, sqliteLedger, type LedgerCheck } from '../ledger.ts';
import { runLoad, type LoadResult } from '../load.ts';
import { startReference, type ServerProcess } from '../processes.ts';
import type { Figure } from '../report.ts';
import { AllotClient } from '../client.ts';
import { usageStep, users } from './steps.ts';

export const BENCH_SHOP = 'bench';
export const USERS = users(100);

/** Plans, a shop key and 100 subscriptions in shop `bench`; answers the shop key. */
export async function setUpUsageShop(admin: AllotClient): Promise<string> {
  await admin.plan('bench-unlimited', 1_000_000_000_000);
  const key = await admin.shopKey(BENCH_SHOP);
  for (const user of USERS) await admin.subscribe(BENCH_SHOP, user, 'bench-unlimited');
  return key;
}

const references = {
  baseline: { script: 'bench/baseline.ts', label: 'baseline: bare Fastify, POST /v1/usage' },
  floor: { script: 'bench/floor.ts', label: 'floor: minimal durable server, POST /v1/usage' },
} as const;

/** The same load as recorded usage, at the bare baseline or at the floor. */
export async function measureReference(settings: BenchSettings, which: keyof typeof references): Promise<LoadResult> {
  const { script, label } = references[which];
  const server = await startReference(script);
  try {
    const step = usageStep({ shopId: BENCH_SHOP, users: USERS, prefix: which });
    const common = { url: server.url, connections: settings.connections, steps: [step] };
    // As many requests before the measured run as allot has stored events before its own: the floor's tables are as large.
    await runLoad({ ...common, label: `${which} warm-up`, amount: settings.memoryEvents.first });
    return await runLoad({ ...common, label, amount: settings.throughputRequests });
  } finally {
    await server.stop();
  }
}

async function settledRss(server: ServerProcess): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000));
  return server.rss();
}

export interface RecordedOutcome {
  measured: LoadResult;
  rssFirst: number;
  rssLast: number;
  ledger: LedgerCheck;
}

/** Warm-up, fill to the first memory sample, the measured run, fill to the last sample; then the ledger. */
export async function measureRecorded(settings: BenchSettings, server: ServerProcess, shopKey: string, dbPath: string): Promise<RecordedOutcome> {
  const step = usageStep({ shopId: BENCH_SHOP, users: USERS, prefix: 'rec' });
  const common = { url: server.url, connections: settings.connections, headers: { authorization: `Bearer ${shopKey}` }, steps: [step] };
  const acked = { events: 0, tokens: 0 };
  const load = async (label: string, amount: number) => {
    const result = await runLoad({ ...common, label, amount });
    acked.events += result.ackedRequests;
    acked.tokens += result.ackedTokens;
    return result;
  };
  await load('allot warm-up', settings.warmupRequests);
  const fill = settings.memoryEvents.first - acked.events;
  if (fill > 0) await load(`usage events up to ${settings.memoryEvents.first.toLocaleString('en')}`, fill);
  const rssFirst = await settledRss(server);
  const measured = await load('allot: POST /v1/usage recorded, SQLite FULL', settings.throughputRequests);
  const rest = settings.memoryEvents.last - acked.events;
  if (rest > 0) await load(`usage events up to ${settings.memoryEvents.last.toLocaleString('en')}`, rest);
  const rssLast = await settledRss(server);
  const ledger = checkLedger('recorded usage (SQLite)', sqliteLedger(dbPath, BENCH_SHOP), acked);
  return { measured, rssFirst, rssLast, ledger };
}

export function usageFigures(
  settings: BenchSettings,
  { baseline, floor }: { baseline: LoadResult; floor: LoadResult },
  recorded: RecordedOutcome,
): Figure[] {
  const figures: Figure[] = [
    { name: 'bare Fastify baseline, POST JSON, 32 conn', value: baseline.rps, unit: 'req/s', target: '', pass: null, detail: { ...baseline } },
    { name: 'floor: same SQL and WAL sync, nothing else', value: floor.rps, unit: 'req/s', target: '', pass: null, detail: { ...floor } },
    { name: 'floor / baseline', value: floor.rps / baseline.rps, unit: '×', target: 'what this machine allows', pass: null },
    {
      name: 'POST /v1/usage recorded, SQLite FULL, 32 conn', value: recorded.measured.rps, unit: 'req/s', target: '', pass: null,
      detail: { ...recorded.measured },
    },
  ];
  const ratio = recorded.measured.rps / baseline.rps;
  figures.push(
    { name: 'recorded usage / baseline', value: ratio, unit: '×', target: '≥ 0.5× (aim 0.7×)', pass: ratio >= 0.5 },
    { name: 'recorded usage / floor', value: recorded.measured.rps / floor.rps, unit: '×', target: '', pass: null },
  );
  const growth = recorded.rssLast / recorded.rssFirst;
  figures.push({
    name: `server RSS after ${settings.memoryEvents.last.toLocaleString('en')} / after ${settings.memoryEvents.first.toLocaleString('en')} events`,
    value: growth, unit: '×', target: '≤ 1.3×', pass: growth <= 1.3,
    detail: { rss_first_mb: recorded.rssFirst / 2 ** 20, rss_last_mb: recorded.rssLast / 2 ** 20 },
  });
  return figures;
}
