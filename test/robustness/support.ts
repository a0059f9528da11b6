/**
 * Shared by the robustness and verify tests: run `allot` as a real process on
 * a test database, assert the ledger's invariants, and fingerprint the
 * database to prove a request changed nothing.
 */
import assert from 'node:assert/strict';
import type { Db } from '../../src/store/db.ts';
import { verifyDatabase, type VerifyReport } from '../../src/service/verify.ts';
import type { TestDbConfig } from '../support/dialects.ts';
import { dbEnv, runAllot } from '../support/process.ts';

/** `allot verify --json` as a real process: exit 0 and no violations. */
export async function assertCliVerifies(config: TestDbConfig): Promise<VerifyReport> {
  const result = await runAllot(['verify', '--json'], dbEnv(config, { LOG_LEVEL: 'warn' }));
  assert.equal(result.code, 0, `allot verify failed:\n${result.stdout}\n${result.stderr}`);
  const report = JSON.parse(result.stdout) as VerifyReport;
  assert.equal(report.ok, true);
  return report;
}

export async function assertVerified(db: Db): Promise<VerifyReport> {
  const report = await verifyDatabase(db);
  assert.deepEqual(report.violations, [], 'the ledger broke an invariant');
  return report;
}

const FINGERPRINT = [
  ['plans', 'COUNT(*), SUM(archived), SUM(allocated_tokens)'],
  ['subscriptions', `COUNT(*), SUM(used_tokens), SUM(reserved_tokens), SUM(queries), SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END),
    SUM(CASE WHEN status = 'canceled' THEN 1 ELSE 0 END), SUM(cancel_at_period_end), COUNT(pending_plan_id), MAX(updated_at), SUM(allocated_tokens)`],
  ['plan_history', 'COUNT(*)'],
  ['usage_events', 'COUNT(*), SUM(tokens)'],
  ['daily_usage', 'COUNT(*), SUM(tokens), SUM(queries)'],
  ['period_summaries', 'COUNT(*), SUM(used_tokens)'],
  ['reservations', `COUNT(*), SUM(tokens), SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), COUNT(settled_at)`],
  ['api_keys', 'COUNT(*), COUNT(revoked_at)'],
  ['idempotency_keys', 'COUNT(*)'],
  ['model_rates', 'COUNT(*), COUNT(effective_to), SUM(input_weight), SUM(cached_input_weight), SUM(output_weight)'],
  ['daily_model_usage', 'COUNT(*), SUM(events), SUM(tokens)'],
] as const;

/** Row counts and sums of every table: equal fingerprints mean nothing was written. */
export async function fingerprint(db: Db): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [table, columns] of FINGERPRINT) {
    const row = await db.one<Record<string, unknown>>(`SELECT ${columns} FROM ${table}`);
    out[table] = Object.values(row ?? {}).map((v) => (v === null ? 'null' : String(Number(v)))).join(',');
  }
  return out;
}
