import { z } from 'zod';
import { DAY_MS, parseInstant } from '../../domain/clock.ts';
import { validationError } from '../../domain/errors.ts';
import { checkQuota, getUsageEvent, listUsage, recordUsage } from '../../service/usage.ts';
import { usageEventView } from '../../service/views.ts';
import { route } from '../route.ts';
import { MODEL_LENGTH, weightsSchema } from './models.ts';
import { COMMIT_EVENT_PREFIX } from '../../service/reservations.ts';
import {
  clientEventId, DAY_PATTERN, decodeCursor, identifier, instant, isIdentifier, isTokenCount, limitQuery, listKey, MAX_TOKEN_COUNT, page, pageOf, storedEventId, tokenCount,
} from '../schemas.ts';

/** What an event is charged for (SPEC §10): `tokens` as given, or counts by token type, priced by the model's rate. */
export const chargeFields = {
  tokens: tokenCount.optional().describe('charged as given, without weights'),
  input_tokens: tokenCount.optional().describe('input not served from a prompt cache'),
  cached_input_tokens: tokenCount.optional().describe('input read from a prompt cache'),
  output_tokens: tokenCount.optional().describe('output, reasoning included'),
  model: z.string().min(1).max(MODEL_LENGTH).optional(),
};

type ChargeFields = { tokens?: number; input_tokens?: number; cached_input_tokens?: number; output_tokens?: number };

/** `tokens`, or at least one count, the counts summing to at most 10^12. */
export function refineCharge(body: ChargeFields, ctx: z.RefinementCtx): void {
  if (body.tokens === undefined && body.input_tokens === undefined && body.cached_input_tokens === undefined && body.output_tokens === undefined) {
    ctx.addIssue({ code: 'custom', path: ['tokens'], message: 'give tokens, or input_tokens, cached_input_tokens and/or output_tokens' });
  }
  if (body.tokens === undefined && (body.input_tokens ?? 0) + (body.cached_input_tokens ?? 0) + (body.output_tokens ?? 0) > MAX_TOKEN_COUNT) {
    ctx.addIssue({ code: 'custom', path: ['tokens'], message: 'input_tokens + cached_input_tokens + output_tokens must be at most 10^12' });
  }
}

export const usageBody = z
  .object({
    event_id: clientEventId,
    shop_id: identifier,
    user_id: identifier,
    ...chargeFields,
    enforce: z.boolean().optional(),
  })
  .strict()
  .superRefine(refineCharge);

type UsageBody = z.infer<typeof usageBody>;

const USAGE_MEMBERS = new Set(['event_id', 'shop_id', 'user_id', 'tokens', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'model', 'enforce']);
const optional = <T>(value: unknown, test: (v: unknown) => v is T): boolean => value === undefined || test(value);

/** `usageBody` as plain tests, for the route's `accepts`: a usage event passes here unless its model is over 200 UTF-16 units. */
export function acceptsUsage(raw: unknown): UsageBody | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const body = raw as Record<string, unknown>;
  for (const member in body) if (!USAGE_MEMBERS.has(member)) return undefined;
  const { event_id, tokens, input_tokens, cached_input_tokens, output_tokens, model, enforce } = body;
  if (!isIdentifier(event_id) || event_id.startsWith(COMMIT_EVENT_PREFIX) || !isIdentifier(body.shop_id) || !isIdentifier(body.user_id)) return undefined;
  if (!optional(tokens, isTokenCount) || !optional(input_tokens, isTokenCount) || !optional(output_tokens, isTokenCount)) return undefined;
  if (!optional(cached_input_tokens, isTokenCount)) return undefined;
  if (tokens === undefined) {
    if (input_tokens === undefined && cached_input_tokens === undefined && output_tokens === undefined) return undefined;
    const sum = ((input_tokens as number | undefined) ?? 0) + ((cached_input_tokens as number | undefined) ?? 0) + ((output_tokens as number | undefined) ?? 0);
    if (sum > MAX_TOKEN_COUNT) return undefined;
  }
  // The schema counts code points; a string within the limit in UTF-16 units is within it in code points too.
  if (model !== undefined && (typeof model !== 'string' || model.length < 1 || model.length > MODEL_LENGTH)) return undefined;
  if (enforce !== undefined && typeof enforce !== 'boolean') return undefined;
  return body as UsageBody;
}

export const usageResultSchema = z.object({
  event_id: z.string(),
  subscription_id: z.string(),
  tokens: z.number().int(),
  used_tokens: z.number().int(),
  reserved_tokens: z.number().int(),
  remaining_tokens: z.number().int(),
  allocated_tokens: z.number().int(),
  usage_percentage: z.number(),
  over_limit: z.boolean(),
  duplicate: z.boolean(),
  model: z.string().nullable().optional().describe('with weights: the model the event named, when its rate (or the * rate) charged it'),
  weights: weightsSchema.optional().describe('the weights the event was charged with; absent when charged as given or as the plain sum'),
});

export const usageEventSchema = z.object({
  event_id: z.string(), shop_id: z.string(), user_id: z.string(), subscription_id: z.string(),
  tokens: z.number().int(), input_tokens: z.number().int().nullable(), output_tokens: z.number().int().nullable(),
  model: z.string().nullable(), enforce: z.boolean(), reservation_id: z.string().nullable(), day: z.string(), created_at: instant,
  cached_input_tokens: z.number().int().optional().describe('present when the event gave it'),
  weights: weightsSchema.optional().describe('present when the event was charged by a rate'),
});

export const checkBody = z.object({ shop_id: identifier, user_id: identifier, tokens: tokenCount.optional() }).strict();
export const checkResultSchema = z.object({
  allowed: z.boolean(),
  remaining_tokens: z.number().int(),
  reason: z.enum(['quota_exceeded', 'subscription_suspended', 'subscription_not_found']).nullable(),
});

/**
 * An RFC 3339 instant, or a bare day `YYYY-MM-DD`: `from` reads a day as its
 * first instant; `to` covers a day whole (as `/usage/daily` does), an instant
 * being the range's exclusive end.
 */
function instantQuery(path: 'from' | 'to') {
  return z
    .string()
    .describe(path === 'from'
      ? 'RFC 3339 instant, or a day YYYY-MM-DD (its first instant); included'
      : 'RFC 3339 instant (excluded), or a day YYYY-MM-DD (included whole)')
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const ms = parseInstant(value);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `${path} must be an RFC 3339 instant or a day` });
        return z.NEVER;
      }
      return path === 'to' && DAY_PATTERN.test(value) ? ms + DAY_MS : ms;
    });
}

export const usageListQuery = z
  .object({
    shop_id: identifier.optional(),
    user_id: identifier.optional(),
    from: instantQuery('from'),
    /** Exclusive end, in epoch ms. */
    to: instantQuery('to'),
    limit: limitQuery,
    cursor: z.string().max(512).optional(),
  })
  .superRefine((query, ctx) => {
    if (query.from !== undefined && query.to !== undefined && query.from >= query.to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to (a day given as to counts whole)' });
    }
  });

const usageEventPosition = z.object({ created_at: z.number().int(), event_id: z.string() });

export const usageRoutes = [
  route({
    method: 'POST',
    path: '/v1/usage',
    summary: 'Record token usage, exactly once per (shop_id, event_id)',
    tag: 'Usage',
    body: usageBody,
    accepts: acceptsUsage,
    responses: {
      200: { description: 'Recorded (or a duplicate of a recorded event)', schema: usageResultSchema },
      404: { description: 'subscription_not_found' },
      409: { description: 'idempotency_conflict or subscription_suspended' },
      422: { description: 'model_not_priced: rates exist, but none for the model and no * rate; nothing stored' },
      429: { description: 'quota_exceeded (enforce: true); nothing stored' },
    },
    handler: async ({ body, scope, services }) => ({ status: 200, body: await recordUsage(services, scope, body) }),
  }),
  route({
    method: 'GET',
    path: '/v1/usage',
    summary: 'Stored usage events, oldest first (audit)',
    tag: 'Usage',
    query: usageListQuery,
    responses: { 200: { description: 'Usage events', schema: page(usageEventSchema) } },
    handler: async ({ query, scope, services }) => {
      const { shop_id, user_id, from, to } = query;
      const list = listKey('usage', { shop_id: shop_id ?? scope.ownShop ?? undefined, user_id, from, to });
      const after = decodeCursor(query.cursor, list, usageEventPosition);
      const events = await listUsage(services, scope, { shop_id, user_id, from, to, after, limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(events, query.limit, list, (last) => ({ created_at: last.created_at, event_id: last.event_id }));
      return { status: 200, body: { data: items.map(usageEventView), next_cursor } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/usage/{event_id}',
    summary: 'One stored event: did my timed-out request count?',
    tag: 'Usage',
    params: z.object({ event_id: storedEventId }),
    query: z.object({ shop_id: identifier.optional() }),
    responses: { 200: { description: 'The event', schema: usageEventSchema }, 404: { description: 'not_found' } },
    handler: async ({ params, query, scope, services }) => {
      const shopId = query.shop_id ?? scope.ownShop;
      if (shopId === null) throw validationError([{ path: 'shop_id', message: 'required with an admin key' }]);
      return { status: 200, body: usageEventView(await getUsageEvent(services, scope, shopId, params.event_id)) };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/check',
    summary: 'Would this many tokens be allowed now? Changes nothing.',
    tag: 'Usage',
    body: checkBody,
    responses: {
      200: { description: 'The answer', schema: checkResultSchema },
    },
    handler: async ({ body, scope, services }) => ({ status: 200, body: await checkQuota(services, scope, body) }),
  }),
];
