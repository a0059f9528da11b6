/** Shared by CLI commands: open the configured database, print results. */
import { openServices } from '../app.ts';
import { loadConfig } from '../config.ts';
import type { Services } from '../service/context.ts';
import { Scope } from '../service/scope.ts';

/** The CLI acts as an operator on the database itself: admin scope. */
export const operator = Scope.admin('cli');

export async function withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  const services = await openServices(loadConfig());
  try {
    return await work(services);
  } finally {
    await services.db.close();
  }
}

export function print(value: unknown, asJson: boolean, table?: () => string): void {
  if (asJson || !table) console.log(JSON.stringify(value, null, 2));
  else console.log(table());
}

export function columns(rows: Array<Record<string, unknown>>, keys: string[]): string {
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(keys), ...rows.map((r) => line(keys.map((k) => String(r[k] ?? ''))))].join('\n');
}
