import { z } from 'zod';
import { DAY_MS, parseInstant } from '../../domain/clock.ts';
import { validationError } from '../../domain/errors.ts';
import { checkQuota, getUsageEvent, listUsage, recordUsage } from '../../service/usage.ts';
import { usageEventView } from '../../service/views.ts';
import { route } from '../route.ts';
import { MODEL_LENGTH, weightsSchema } from './models.ts';
import { COMMIT_EVENT_PREFIX } from '../../service/reservations.ts';
import {
  clientEventId, cursorQuery, DAY_PATTERN, decodeCursor, identifier, instant, isIdentifier, isTokenCount, limitQuery, listKey, MAX_TOKEN_COUNT, page, pageOf, storedEventId, tokenCount,
} from '../schemas.ts';

/** What an event is charged for (SPEC §10): `tokens` as given, or counts by token type, priced by the model's rate. */
export const chargeFields = {
  tokens: tokenCount.optional().describe('The tokens to charge, as given (no weights). Without it the counts are charged: priced by the model\'s rate when rates exist, else their plain sum. It or one count is required.'),
  input_tokens: tokenCount.optional().describe('Input tokens not served from a prompt cache.'),
  cached_input_tokens: tokenCount.optional().describe('Input tokens read from a prompt cache.'),
  output_tokens: tokenCount.optional().describe('Output tokens, reasoning included.'),
  model: z.string().min(1).max(MODEL_LENGTH).optional().describe('The model used (1–200 characters): its rate (else the `*` rate) prices the counts, and usage is reported by model.'),
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
    event_id: clientEventId.describe('Your id for the event, unique per shop (e.g. the LLM call\'s id): a repeat with the same content is counted once.'),
    shop_id: identifier.describe('The shop of the user.'),
    user_id: identifier.describe('The user whose live subscription the tokens count against.'),
    ...chargeFields,
    enforce: z.boolean().optional().describe(
      'false (default): always recorded (the tokens were spent), `over_limit` tells when usage passed the allowance. '
      + 'true: recorded only if it fits the remaining allowance, else 429 `quota_exceeded` and nothing is stored.',
    ),
  })
  .strict()
  .superRefine(refineCharge)
  .meta({
    id: 'RecordUsageRequest',
    description: "An LLM call's tokens, charged against the user's live subscription in the current period and UTC day.",
    examples: [{ event_id: 'call_8f2c1a', shop_id: 'acme', user_id: 'u_42', input_tokens: 1200, output_tokens: 350, model: 'gpt-4o-mini', enforce: true }],
  });

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

export const usageResultSchema = z
  .object({
    event_id: z.string().describe('The event counted.'),
    subscription_id: z.string().describe('The subscription it counted against.'),
    tokens: z.number().int().describe('The tokens charged for this event: `tokens` as sent, else the counts priced by the model\'s rate (ceil of Σ count × weight), else their plain sum.'),
    used_tokens: z.number().int().describe("The period's used tokens after this event."),
    reserved_tokens: z.number().int().describe('Tokens held by active reservations.'),
    remaining_tokens: z.number().int().describe('max(0, allocated_tokens − used_tokens − reserved_tokens).'),
    allocated_tokens: z.number().int().describe("The period's allowance."),
    usage_percentage: z.number().describe('round(100 × used_tokens / allocated_tokens, 2); may exceed 100; 0 when allocated_tokens is 0.'),
    over_limit: z.boolean().describe('Whether used_tokens now exceeds allocated_tokens (only unenforced usage gets there).'),
    duplicate: z.boolean().describe('true when the event was recorded before: this is the first answer again, nothing was counted twice.'),
    model: z.string().nullable().optional().describe("Present with `weights`: the model the event named, whose rate (or the `*` rate) charged it."),
    weights: weightsSchema.optional().describe('The weights the event was charged with; absent when charged as given or as the plain sum.'),
  })
  .meta({
    id: 'UsageResult',
    description: "The event as counted, and the period's counters after it.",
    examples: [{
      event_id: 'call_8f2c1a', subscription_id: 'sub_01kg9ys7g0e42rk4sxm4h70pzs', tokens: 1550, used_tokens: 313550, reserved_tokens: 4000,
      remaining_tokens: 82450, allocated_tokens: 400000, usage_percentage: 78.39, over_limit: false, duplicate: false,
    }],
  });

export const usageEventSchema = z
  .object({
    event_id: z.string().describe(`The event's id (a commit without an event_id gets \`${COMMIT_EVENT_PREFIX}\` and the reservation's id).`),
    shop_id: z.string().describe('The shop.'),
    user_id: z.string().describe('The user.'),
    subscription_id: z.string().describe('The subscription it counted against.'),
    tokens: z.number().int().describe('The tokens counted.'),
    input_tokens: z.number().int().nullable().describe('Input tokens not served from a cache, as sent; null if not sent.'),
    output_tokens: z.number().int().nullable().describe('Output tokens as sent; null if not sent.'),
    model: z.string().nullable().describe('The model as sent; null if not sent.'),
    enforce: z.boolean().describe('Whether it was recorded with `enforce: true`.'),
    reservation_id: z.string().nullable().describe('The reservation whose commit recorded it; null for a direct event.'),
    cached_input_tokens: z.number().int().optional().describe('Input tokens read from a prompt cache, as sent; absent if not sent.'),
    weights: weightsSchema.optional().describe('The weights the event was charged with; absent when charged as given or as the plain sum.'),
    day: z.string().describe('The UTC day it counted on, YYYY-MM-DD.'),
    created_at: instant.describe('When it was recorded (RFC 3339 UTC).'),
  })
  .meta({
    id: 'UsageEvent',
    description: 'A stored usage event.',
    examples: [{
      event_id: 'call_8f2c1a', shop_id: 'acme', user_id: 'u_42', subscription_id: 'sub_01kg9ys7g0e42rk4sxm4h70pzs', tokens: 1550, input_tokens: 1200,
      output_tokens: 350, model: 'gpt-4o-mini', enforce: true, reservation_id: null, day: '2026-03-15', created_at: '2026-03-15T10:00:01.250Z',
    }],
  });

export const checkBody = z
  .object({
    shop_id: identifier.describe('The shop of the user.'),
    user_id: identifier.describe('The user.'),
    tokens: tokenCount.optional().describe('The tokens the call would use; default 0.'),
  })
  .strict()
  .meta({ id: 'CheckRequest', description: 'Whether an event of this many tokens would be allowed now.', examples: [{ shop_id: 'acme', user_id: 'u_42', tokens: 2000 }] });
export const checkResultSchema = z
  .object({
    allowed: z.boolean().describe('Whether an enforced event of this many tokens would be recorded now.'),
    remaining_tokens: z.number().int().describe('max(0, allocated_tokens − used_tokens − reserved_tokens); 0 without a subscription.'),
    reason: z.enum(['quota_exceeded', 'subscription_suspended', 'subscription_not_found']).nullable().describe('Why not; null when allowed.'),
  })
  .meta({ id: 'CheckResult', description: 'The answer to a check; nothing was changed.', examples: [{ allowed: true, remaining_tokens: 84000, reason: null }] });

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
    shop_id: identifier.optional().describe("Only this shop's events (a shop key sees only its own shop anyway)."),
    user_id: identifier.optional().describe("Only this user's events."),
    from: instantQuery('from'),
    /** Exclusive end, in epoch ms. */
    to: instantQuery('to'),
    limit: limitQuery,
    cursor: cursorQuery,
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
    operationId: 'recordUsage',
    summary: 'Record token usage, exactly once per (shop_id, event_id)',
    tag: 'Usage',
    body: usageBody,
    accepts: acceptsUsage,
    responses: {
      200: { description: 'Recorded (or a duplicate of a recorded event)', schema: usageResultSchema },
      404: { description: 'The user has no live subscription in this shop; nothing stored', codes: ['subscription_not_found'] },
      409: { description: 'The event_id was recorded with other content, or (enforce: true) the subscription is suspended', codes: ['idempotency_conflict', 'subscription_suspended'] },
      429: { description: 'With enforce: true, the tokens do not fit the remaining allowance; nothing stored', codes: ['quota_exceeded'] },
      422: { description: 'Rates exist, but none for the model and no `*` rate; nothing stored', codes: ['model_not_priced'] },
    },
    handler: async ({ body, scope, services }) => ({ status: 200, body: await recordUsage(services, scope, body) }),
  }),
  route({
    method: 'GET',
    path: '/v1/usage',
    operationId: 'listUsage',
    summary: 'Stored usage events, oldest first (audit)',
    tag: 'Usage',
    query: usageListQuery,
    responses: {
      200: { description: 'Usage events', schema: page(usageEventSchema).meta({ id: 'UsageEventList', description: 'A page of usage events, oldest first.' }) },
      404: { description: 'With a shop key: another shop', codes: ['not_found'] },
    },
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
    operationId: 'getUsageEvent',
    summary: 'One stored event: did my timed-out request count?',
    tag: 'Usage',
    params: z.object({ event_id: storedEventId.describe("The event's id.") }),
    query: z.object({ shop_id: identifier.optional().describe('The shop of the event: required with an admin key, a shop key\'s own shop otherwise.') }),
    responses: { 200: { description: 'The event', schema: usageEventSchema }, 404: { description: 'No such event in this shop: it did not count', codes: ['not_found'] } },
    handler: async ({ params, query, scope, services }) => {
      const shopId = query.shop_id ?? scope.ownShop;
      if (shopId === null) throw validationError([{ path: 'shop_id', message: 'required with an admin key' }]);
      return { status: 200, body: usageEventView(await getUsageEvent(services, scope, shopId, params.event_id)) };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/check',
    operationId: 'checkQuota',
    summary: 'Would this many tokens be allowed now? Changes nothing.',
    tag: 'Usage',
    body: checkBody,
    responses: {
      200: { description: 'The answer', schema: checkResultSchema },
    },
    handler: async ({ body, scope, services }) => ({ status: 200, body: await checkQuota(services, scope, body) }),
  }),
];
