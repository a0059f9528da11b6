/** Request and answer schemas shared by several resources. */
import { z } from 'zod';
import { validationError } from '../domain/errors.ts';
import { COMMIT_EVENT_PREFIX } from '../service/reservations.ts';
import { contentHash } from '../service/hash.ts';

const IDENTIFIER = /^[A-Za-z0-9._:@-]{1,128}$/;

export const identifier = z
  .string()
  .regex(IDENTIFIER, 'must be 1–128 characters of A-Z a-z 0-9 . _ : @ -')
  .refine((id) => id !== '.' && id !== '..', 'must not be "." or ".." (they read as path segments)');

/** `identifier`'s rule as a plain test, for exact checks that skip the schema (`RouteSpec.accepts`). */
export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && IDENTIFIER.test(value) && value !== '.' && value !== '..';
}

/** An `event_id` a client gives: an identifier outside the prefix kept for commits. */
export const clientEventId = identifier.refine(
  (id) => !id.startsWith(COMMIT_EVENT_PREFIX),
  `must not start with "${COMMIT_EVENT_PREFIX}" (kept for the usage of commits without an event_id)`,
);

/** An `event_id` as stored: a client's, or a commit's (the prefix and a reservation id, so up to 140 characters). */
export const storedEventId = z.string().refine(
  (id) => identifier.safeParse(id.startsWith(COMMIT_EVENT_PREFIX) ? id.slice(COMMIT_EVENT_PREFIX.length) : id).success,
  `must be 1–128 characters of A-Z a-z 0-9 . _ : @ -, or a commit's ${COMMIT_EVENT_PREFIX}{reservation id}`,
);

/** Text no database column stores as sent: U+0000 (PostgreSQL refuses it) and a lone UTF-16 surrogate (UTF-8 cannot encode it). */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The dotted path of the first string (or member name) in parsed JSON that
 * holds unstorable text. Only a `\u` escape can put such text in JSON, so
 * `json` without one is not walked.
 */
export function pathToUnstorable(json: string, value: unknown): string | undefined {
  return json.includes('\\u') ? firstUnstorable(value, '') : undefined;
}

function firstUnstorable(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, member] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (UNSTORABLE.test(key)) return at;
    const found = firstUnstorable(member, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const MAX_TOKEN_COUNT = 1e12;

export const tokenCount = z.number().int('must be an integer').min(0, 'must be at least 0').max(MAX_TOKEN_COUNT, 'must be at most 10^12');

/** `tokenCount`'s rule as a plain test. */
export function isTokenCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_TOKEN_COUNT;
}

export const instant = z.string().describe('RFC 3339 UTC instant with milliseconds');
/** A day as text, `YYYY-MM-DD`. */
export const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export const day = z.string().regex(DAY_PATTERN, 'must be a day YYYY-MM-DD').refine(
  (s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s),
  'must be a real calendar day',
);

export const limitQuery = z.coerce.number().int().min(1).max(100).default(20).describe('How many items a page holds, 1–100.');

export const cursorQuery = z.string().max(512).optional().describe("The previous page's `next_cursor`: the page after it, under the same filters.");

export const pageQuery = z.object({
  limit: limitQuery,
  cursor: cursorQuery,
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item).describe('The items of this page, in the order of the list.'),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  });
}

export const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

export const fieldError = z
  .object({
    path: z.string().describe('The dotted path of the bad field (`tokens`, `plan.id`); empty for the body or request as a whole.'),
    message: z.string().describe('What is wrong with it.'),
  })
  .meta({ id: 'FieldError', description: 'One bad field of a refused request.' });

export const problem = z
  .object({
    type: z.string().describe('A URI naming the kind of problem, one per `code`.'),
    title: z.string().describe('A short summary of the kind of problem, the same for every answer with this `code`.'),
    status: z.number().int().describe('The HTTP status code.'),
    detail: z.string().describe('What went wrong with this request, in words.'),
    code: z.string().describe('The stable error code: what a client should branch on.'),
    instance: z.string().optional().describe('The path of the request.'),
    request_id: z.string().optional().describe('The id of the request, as in the `X-Request-Id` header and the server log.'),
    errors: z.array(fieldError).optional().describe('With `validation_error`: every bad field of the request.'),
    retry_after_seconds: z.number().int().optional().describe('With `quota_exceeded`: seconds until the period ends and the allowance refills, as in the `Retry-After` header.'),
    remaining_tokens: z.number().int().optional().describe('With `quota_exceeded`: the tokens still available in the current period.'),
  })
  .meta({
    id: 'Problem',
    description: 'An RFC 9457 problem document: every error allot answers.',
    examples: [
      {
        type: 'https://allot.dev/problems/quota-exceeded', title: 'Quota exceeded', status: 429, detail: '5000 tokens exceed the 2000 remaining in this period.',
        code: 'quota_exceeded', instance: '/v1/usage', request_id: '6f1c2b1e-8d3a-4c55-9a1e-2f4b7c9d0e13', retry_after_seconds: 1382400, remaining_tokens: 2000,
      },
      {
        type: 'https://allot.dev/problems/validation-error', title: 'Validation failed', status: 400, detail: 'tokens: must be at least 0',
        code: 'validation_error', instance: '/v1/usage', request_id: '0b9e4d2a-1c7f-4e38-b6a5-93d8f2c1a704', errors: [{ path: 'tokens', message: 'must be at least 0' }],
      },
    ],
  });

/**
 * Which list a cursor belongs to: the list's name and the filter it pages
 * through. A cursor carries it, so one list's cursor (or one made under
 * another filter) is refused by every other list.
 */
export type ListKey = string & { readonly __brand: 'ListKey' };

/** The key of list `name` under `filter` (undefined members are left out; `limit` and `cursor` do not belong in it). */
export function listKey(name: string, filter: Record<string, unknown> = {}): ListKey {
  return `${name}:${contentHash(filter).slice(0, 16)}` as ListKey;
}

/**
 * One page of a list fetched with `limit + 1` rows: the extra row only says
 * that more follow, so the last page never points at an empty one.
 *
 * @example
 * const list = listKey('plans', { include_archived: query.include_archived });
 * const after = decodeCursor(query.cursor, list, z.string());
 * const rows = await listPlans(q, { after, limit: query.limit + 1 });
 * const { items, next_cursor } = pageOf(rows, query.limit, list, (last) => last.id);
 */
export function pageOf<T>(rows: T[], limit: number, list: ListKey, cursorOf: (last: T) => unknown): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? encodeCursor(list, cursorOf(items[items.length - 1]!)) : null };
}

export function encodeCursor(list: ListKey, position: unknown): string {
  return Buffer.from(JSON.stringify({ list, after: position })).toString('base64url');
}

/** The position a cursor of `list` points after; 400 for anything else, another list's cursors included. */
export function decodeCursor<T>(cursor: string | undefined, list: ListKey, position: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const decoded: unknown = JSON.parse(text);
    // Cursors are not signed: one made by hand must not carry what no database column can hold.
    if (pathToUnstorable(text, decoded) !== undefined) throw new Error('unstorable text in cursor');
    return z.object({ list: z.literal(list), after: position }).strict().parse(decoded).after;
  } catch {
    throw validationError([{ path: 'cursor', message: 'is not a cursor this list gave out' }]);
  }
}

export const shopUserParams = z.object({
  shop_id: identifier.describe('The shop (your tenant or storefront) the user belongs to.'),
  user_id: identifier.describe("The user, unique within the shop: the subscription's holder."),
});
export const idParams = z.object({ id: identifier.describe('The id.') });
