/** Request and answer schemas shared by several resources. */
import { z } from 'zod';
import { validationError } from '../domain/errors.ts';

export const identifier = z
  .string()
  .regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1–128 characters of A-Z a-z 0-9 . _ : @ -')
  .refine((id) => id !== '.' && id !== '..', 'must not be "." or ".." (they read as path segments)');

export const tokenCount = z.number().int('must be an integer').min(0, 'must be at least 0').max(1e12, 'must be at most 10^12');

export const instant = z.string().describe('RFC 3339 UTC instant with milliseconds');
export const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day YYYY-MM-DD').refine(
  (s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s),
  'must be a real calendar day',
);

export const limitQuery = z.coerce.number().int().min(1).max(100).default(20);

export const pageQuery = z.object({
  limit: limitQuery,
  cursor: z.string().max(512).optional(),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() });
}

export const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

export const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  instance: z.string().optional(),
  request_id: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  retry_after_seconds: z.number().int().optional(),
  remaining_tokens: z.number().int().optional(),
});

/**
 * One page of a list fetched with `limit + 1` rows: the extra row only says
 * that more follow, so the last page never points at an empty one.
 */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => unknown): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? encodeCursor(cursorOf(items[items.length - 1]!)) : null };
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, shape: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    return shape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw validationError([{ path: 'cursor', message: 'is not a cursor this list gave out' }]);
  }
}

export const shopUserParams = z.object({ shop_id: identifier, user_id: identifier });
export const idParams = z.object({ id: identifier });
