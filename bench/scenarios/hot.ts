/**
 * One hot subscription under 64 connections: enforced usage (sized so about
 * a tenth is refused) and holds settled by commits. Exact means the counters
 * equal the acknowledged tokens and never pass the allowance.
 */
import type { BenchSettings } from '../config.ts';
import { checkLedger, sqliteLedger, type LedgerCheck } from '../ledger.ts';
import { runLoad, type LoadResult } from '../load.ts';
import type { ServerProcess } from '../processes.ts';
import type { Figure } from '../report.ts';
import { AllotClient } from '../client.ts';
import { holdThenCommitSteps, usageStep } from './steps.ts';

/** Mean tokens per request of `usageStep` (1…50). */
const MEAN_TOKENS = 25.5;

export interface HotOutcome {
  enforced: LoadResult;
  holds: LoadResult;
  allowance: number;
  ledgers: LedgerCheck[];
}

export async function measureHot(settings: BenchSettings, server: ServerProcess, admin: AllotClient, dbPath: string): Promise<HotOutcome> {
  const allowance = Math.round(settings.hotRequests * MEAN_TOKENS * 0.9);
  await admin.plan('bench-hot', allowance);
  await admin.plan('bench-hold', 1_000_000_000_000);
  const enforceKey = await admin.shopKey('hot-enforce');
  const holdKey = await admin.shopKey('hot-hold');
  await admin.subscribe('hot-enforce', 'hot-user', 'bench-hot');
  await admin.subscribe('hot-hold', 'hot-user', 'bench-hold');

  const enforced = await runLoad({
    label: 'enforced usage, one subscription, 64 conn', url: server.url, connections: settings.hotConnections,
    amount: settings.hotRequests, headers: { authorization: `Bearer ${enforceKey}` },
    steps: [usageStep({ shopId: 'hot-enforce', users: ['hot-user'], prefix: 'enf', enforce: true })],
  });
  const holds = await runLoad({
    label: 'holds + commits, one subscription, 64 conn', url: server.url, connections: settings.hotConnections,
    amount: settings.hotRequests, headers: { authorization: `Bearer ${holdKey}` },
    steps: holdThenCommitSteps({ shopId: 'hot-hold', userId: 'hot-user', prefix: 'hold' }),
  });
  const enforcedLedger = checkLedger('enforced usage (SQLite)', sqliteLedger(dbPath, 'hot-enforce'), {
    events: enforced.ackedRequests, tokens: enforced.ackedTokens,
  });
  enforcedLedger.ok &&= enforcedLedger.used_tokens <= allowance && enforced.errors === 0
    && enforced.ackedRequests + (enforced.statuses['429'] ?? 0) === enforced.requests;
  const commits = holds.statuses['200'] ?? 0;
  const holdsLedger = checkLedger('holds + commits (SQLite)', sqliteLedger(dbPath, 'hot-hold'), { events: commits, tokens: holds.ackedTokens });
  holdsLedger.ok &&= holds.errors === 0 && holds.ackedRequests === holds.requests;
  return { enforced, holds, allowance, ledgers: [enforcedLedger, holdsLedger] };
}

export function hotFigures(outcome: HotOutcome, recordedRps: number | undefined): Figure[] {
  const figure = (name: string, result: LoadResult, extra: Record<string, unknown>): Figure => {
    const ratio = recordedRps === undefined ? undefined : result.rps / recordedRps;
    return {
      name, value: result.rps, unit: 'req/s',
      target: recordedRps === undefined ? '≥ 0.5× recorded' : `≥ 0.5× recorded (${ratio!.toFixed(2)}×)`,
      pass: ratio === undefined ? null : ratio >= 0.5,
      detail: { ...result, ...extra },
    };
  };
  return [
    figure('enforced usage, 1 hot subscription, 64 conn', outcome.enforced, { allowance: outcome.allowance }),
    figure('holds + commits, 1 hot subscription, 64 conn', outcome.holds, {}),
  ];
}
