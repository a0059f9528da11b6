import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../app.ts';
import { migrateDatabase } from '../store/migrations.ts';
import { runRenewals, type SweepReport } from '../service/renewals.ts';
import { print, withServices } from './context.ts';

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function renewalText(r: SweepReport): string {
  return [
    `${count(r.subscriptions_rolled, 'subscription', 'subscriptions')} rolled into a new period`,
    ...(r.subscriptions_failed > 0 ? [`${count(r.subscriptions_failed, 'subscription', 'subscriptions')} could not be brought up to date (printed above)`] : []),
    `${count(r.holds_checked, 'subscription', 'subscriptions')} with expired holds brought up to date`,
    `${count(r.idempotency_keys_deleted, 'expired idempotency key', 'expired idempotency keys')} forgotten`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (the server also does at start)')
    .action(async () => {
      const db = await openDatabase(loadConfig());
      try {
        const applied = await migrateDatabase(db);
        console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await db.close();
      }
    });
  program
    .command('renew')
    .description('roll every subscription whose period ended, and free expired holds')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const report = await withServices((s) => runRenewals(s, (id, error) => {
        console.error(`allot: subscription ${id} could not be brought up to date: ${error instanceof Error ? error.message : String(error)}`);
      }));
      print(report, Boolean(o.json), () => renewalText(report));
      if (report.subscriptions_failed > 0) process.exitCode = 1;
    });
}
