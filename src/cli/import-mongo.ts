/** `allot import-mongo`: bring the seed's MongoDB export into allot. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { importSeedExport, type ImportReport, type Progress } from '../import/run.ts';
import { withServices } from './context.ts';

/** A bar on stderr, redrawn in place; only where someone watches (a terminal) or when asked. */
function progressBar(stream: NodeJS.WriteStream): Progress {
  const width = 30;
  let last = '';
  return (done, total) => {
    const share = total === 0 ? 1 : done / total;
    const filled = Math.round(share * width);
    const line = `importing [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} subscriptions`;
    if (line === last) return;
    last = line;
    stream.write(stream.isTTY ? `\r${line}` : `${line}\n`);
    if (done === total && stream.isTTY) stream.write('\n');
  };
}

const LONG_IMPORT = 200;

function summary(report: ImportReport): string {
  const lines = [
    `plans: ${report.plans.created.length} created${report.plans.created.length ? ` (${report.plans.created.join(', ')})` : ''}, ${report.plans.reused.length} already there`,
    ...report.plans.renamed.map((r) => `  plan_name ${r.plan_name} → plan ${r.plan_id}: ${r.reason}`),
    `subscriptions: ${report.subscriptions.read} read, ${report.subscriptions.imported} imported, ${report.subscriptions.already_imported} already imported, ${report.subscriptions.skipped} skipped`,
    `token_usage: ${report.token_usage.read} read, ${report.token_usage.imported} imported, ${report.token_usage.skipped} skipped`,
    `daily usage: ${report.daily_usage_days} days; plan history: ${report.plan_history_entries} entries`,
  ];
  if (report.skipped.length) {
    lines.push('skipped:');
    for (const s of report.skipped) lines.push(`  ${s.collection} line ${s.line}${s.id ? ` (_id ${s.id})` : ''}: ${s.reason}`);
  }
  if (report.unknown_fields.length) {
    lines.push('unknown fields (not imported):');
    for (const u of report.unknown_fields) lines.push(`  ${u.collection}.${u.field} in ${u.documents} document${u.documents === 1 ? '' : 's'}`);
  }
  if (report.warnings.length) {
    lines.push('warnings:');
    for (const w of report.warnings) lines.push(`  ${w}`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('import-mongo')
    .description("import the seed's MongoDB export (mongoexport JSON: one document per line or a JSON array); safe to run again")
    .requiredOption('--subscriptions <file>', 'the subscriptions collection')
    .option('--token-usage <file>', 'the token_usage collection')
    .option('--json', 'print the full report as JSON')
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .action(async (options: { subscriptions: string; tokenUsage?: string; json?: boolean; progress?: boolean }) => {
      const subscriptions = await readFile(options.subscriptions, 'utf8');
      const tokenUsage = options.tokenUsage === undefined ? undefined : await readFile(options.tokenUsage, 'utf8');
      const bar = progressBar(process.stderr);
      const report = await withServices((services) =>
        importSeedExport(services, { subscriptions, tokenUsage }, (done, total) => {
          if (options.progress || (process.stderr.isTTY && total >= LONG_IMPORT)) bar(done, total);
        }),
      );
      console.log(options.json ? JSON.stringify(report, null, 2) : summary(report));
    });
}
