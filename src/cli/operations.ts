import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../app.ts';
import { migrateDatabase } from '../store/migrations.ts';
import { runRenewals } from '../service/renewals.ts';
import { withServices } from './context.ts';

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
    .action(async () => {
      const report = await withServices((s) => runRenewals(s, (id, error) => {
        console.error(`allot: subscription ${id} could not be brought up to date: ${error instanceof Error ? error.message : String(error)}`);
      }));
      console.log(JSON.stringify(report));
      if (report.subscriptions_failed > 0) process.exitCode = 1;
    });
}
