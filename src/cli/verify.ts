import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openDatabase } from '../app.ts';
import { loadConfig } from '../config.ts';
import { INVARIANTS, verifyDatabase } from '../service/verify.ts';

export function register(program: Command): void {
  program
    .command('verify')
    .description('check every invariant of the ledger against the stored events; exit 0 only when all hold')
    .option('--json', 'print the report as JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig();
      // A check writes nothing: a mistyped path must not leave an empty database behind.
      if (!config.DATABASE_URL && !existsSync(config.ALLOT_DB)) throw new Error(`no database at ${resolve(config.ALLOT_DB)} (ALLOT_DB)`);
      const db = await openDatabase(config);
      let report;
      try {
        report = await verifyDatabase(db);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (/no such (table|column)|does not exist/.test(message)) throw new Error(`${message}: is the database migrated? Run \`allot migrate\` first.`);
        throw error;
      } finally {
        await db.close();
      }
      if (options.json) {
        console.log(JSON.stringify(report, null, 2));
      } else {
        const c = report.checked;
        console.log(`checked ${c.subscriptions} subscriptions, ${c.usage_events} usage events, ${c.daily_rollups} daily rollups, `
          + `${c.period_summaries} period summaries, ${c.reservations} reservations`);
        for (const v of report.violations) console.log(`BROKEN ${v.invariant} ${v.subject}: ${v.detail}`);
        if (report.ok) console.log(`ok: all ${Object.keys(INVARIANTS).length} invariants hold`);
        else console.log(`${report.violations.length} violation(s)`);
      }
      if (!report.ok) process.exitCode = 1;
    });
}
