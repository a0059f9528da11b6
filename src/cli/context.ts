/** Shared by CLI commands: open the configured database, print results. */
import type { z } from 'zod';
import { openServices } from '../app.ts';
import { loadConfig } from '../config.ts';
import { AllotError, type FieldError } from '../domain/errors.ts';
import { zodFieldErrors } from '../http/problem.ts';
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

/**
 * `input` checked against the API's own request schema, so the CLI accepts
 * exactly what the API does and refuses with the same messages. Each refusal
 * names the field and, from `flags`, the option it came from; `earlier` are
 * refusals found while reading the options (they replace the schema's for the
 * same field).
 */
export function validInput<S extends z.ZodType>(
  what: string,
  schema: S,
  input: unknown,
  flags: Record<string, string>,
  earlier: FieldError[] = [],
): z.output<S> {
  const result = schema.safeParse(input);
  const found = result.success ? [] : zodFieldErrors(result.error).filter((e) => !earlier.some((x) => x.path === e.path));
  const errors = [...earlier, ...found];
  if (errors.length === 0 && result.success) return result.data;
  throw new AllotError('validation_error', `The ${what} is not valid; nothing was created.`, { errors: naming(errors, flags) });
}

/** Field errors, each path followed by the option it came from. */
function naming(errors: FieldError[], flags: Record<string, string>): FieldError[] {
  return errors.map((e) => ({ path: flags[e.path] ? `${e.path} (${flags[e.path]})` : e.path, message: e.message }));
}

/**
 * `work`, whose refusal of a field (a rule the service checks beyond the
 * schema) reads as `validInput`'s do: each field names its option.
 */
export async function namingOptions<T>(what: string, flags: Record<string, string>, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof AllotError) || error.code !== 'validation_error' || !error.errors) throw error;
    throw new AllotError('validation_error', `The ${what} is not valid; nothing was created.`, { errors: naming(error.errors, flags) });
  }
}

/** Rows the CLI asks the store for at a time when it lists everything. */
const PAGE_SIZE = 100;

/** Every row of a list the store reads in pages ordered by `id`: pages are fetched until one comes back short. */
export async function everyRow<T extends { id: string }>(page: (after: string | undefined, limit: number) => Promise<T[]>): Promise<T[]> {
  const rows: T[] = [];
  let after: string | undefined;
  for (;;) {
    const batch = await page(after, PAGE_SIZE);
    rows.push(...batch);
    if (batch.length < PAGE_SIZE) return rows;
    after = batch[batch.length - 1]!.id;
  }
}
