import { z } from 'zod';
import { parseWeight, WeightError } from '../../domain/rates.ts';
import { deleteRate, getRate, listRates, putRate } from '../../service/models.ts';
import { usageByModel } from '../../service/status.ts';
import { route } from '../route.ts';
import { cursorQuery, day, decodeCursor, instant, limitQuery, listKey, page, pageOf, shopUserParams } from '../schemas.ts';

/** The longest model id, in the API and in usage events. */
export const MODEL_LENGTH = 200;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A model id in a path: percent-encoded there (`openai%2Fgpt-4o`), as usage events name it; `*` is the default rate. */
const modelId = z
  .string()
  .min(1, 'must not be empty')
  .max(MODEL_LENGTH, `must be at most ${MODEL_LENGTH} characters`)
  .refine((id) => !CONTROL.test(id), 'must not contain control characters')
  .describe('The model id as usage events name it, percent-encoded in the path (`openai%2Fgpt-4o`); `*` is the rate for models without their own.');

const modelParams = z.object({ model: modelId });

/** A weight as sent: a JSON number or decimal text, exact, 0 … 1000 with at most 6 decimals; parsed to millionths. */
const weight = z
  .union([z.number(), z.string().max(40, 'must be at most 40 characters')])
  .transform((value, ctx) => {
    try {
      return parseWeight(value);
    } catch (error) {
      if (!(error instanceof WeightError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
      return z.NEVER;
    }
  })
  .describe('Allowance tokens charged per token: a decimal 0 … 1000 with at most 6 decimals, as a JSON number or decimal string.');

export const rateBody = z
  .object({
    input_weight: weight.describe('Allowance tokens per input token not served from a cache (0 … 1000, at most 6 decimals).'),
    output_weight: weight.describe('Allowance tokens per output token, reasoning included (0 … 1000, at most 6 decimals).'),
    cached_input_weight: weight.optional().describe('Allowance tokens per input token read from a prompt cache; default input_weight.'),
  })
  .strict()
  .meta({
    id: 'SetModelRateRequest',
    description: "A model's weights, in force from now on.",
    examples: [{ input_weight: 1, cached_input_weight: 0.1, output_weight: 4 }],
  });

const weightFields = {
  input_weight: z.number().describe('Allowance tokens per input token not served from a cache.'),
  cached_input_weight: z.number().describe('Allowance tokens per input token read from a prompt cache.'),
  output_weight: z.number().describe('Allowance tokens per output token.'),
};

export const weightsSchema = z
  .object(weightFields)
  .meta({ id: 'Weights', description: 'The weights an event was charged with: charged = ceil(input·input_weight + cached·cached_input_weight + output·output_weight).' });

const exampleRate = {
  model: 'openai/gpt-4o', input_weight: 1, cached_input_weight: 0.1, output_weight: 4, effective_from: '2026-03-01T00:00:00.000Z',
  history: [{ input_weight: 1.25, cached_input_weight: 0.125, output_weight: 5, effective_from: '2026-01-01T00:00:00.000Z', effective_to: '2026-03-01T00:00:00.000Z' }],
};

export const rateSchema = z
  .object({
    model: z.string().describe('The model id; `*` is the rate for models without their own.'),
    ...weightFields,
    effective_from: instant.describe('When these weights came into force (RFC 3339 UTC).'),
    history: z
      .array(z.object({
        ...weightFields,
        effective_from: instant.describe('When those weights came into force.'),
        effective_to: instant.describe('When they stopped (the next weights came into force).'),
      }))
      .describe('Earlier weights, newest first.'),
  })
  .meta({ id: 'ModelRate', description: "A model's weights in force now, and the earlier ones.", examples: [exampleRate] });

export const modelUsageSchema = z
  .object({
    model: z.string().describe('The model its events named.'),
    events: z.number().int().describe('How many usage events named it.'),
    input_tokens: z.number().int().describe('Their input tokens not served from a cache.'),
    cached_input_tokens: z.number().int().describe('Their input tokens read from a prompt cache.'),
    output_tokens: z.number().int().describe('Their output tokens.'),
    tokens: z.number().int().describe('The allowance tokens they were charged.'),
  })
  .meta({ id: 'ModelUsage', description: 'Usage of one model over a range of days.' });

export const modelUsageSeriesSchema = z
  .object({
    shop_id: z.string().describe('The shop.'),
    user_id: z.string().describe('The user.'),
    from: z.string().describe('The first day (YYYY-MM-DD).'),
    to: z.string().describe('The last day (YYYY-MM-DD), included.'),
    data: z.array(modelUsageSchema).describe('One entry per model, most tokens first.'),
  })
  .meta({
    id: 'ModelUsageSeries',
    description: "A subscription's usage per model over UTC days, from the by-model daily rollups.",
    examples: [{ shop_id: 'acme', user_id: 'u_42', from: '2026-03-01', to: '2026-03-15', data: [
      { model: 'openai/gpt-4o', events: 12, input_tokens: 24000, cached_input_tokens: 8000, output_tokens: 3000, tokens: 36800 },
    ] }],
  });

const notFound = { description: 'No rate for this model', codes: ['model_not_found'] } as const;

export const modelRoutes = [
  route({
    method: 'PUT',
    path: '/v1/models/{model}',
    operationId: 'setModelRate',
    summary: "Set a model's weights from now on (admin); earlier weights stay in its history",
    tag: 'Models',
    adminOnly: true,
    params: modelParams,
    body: rateBody,
    responses: {
      200: { description: 'Changed (or the same weights again)', schema: rateSchema },
      201: { description: 'The model had no rate before', schema: rateSchema },
    },
    handler: async ({ params, body, scope, services }) => {
      const { created, rate } = await putRate(services, scope, params.model, body);
      return { status: created ? 201 : 200, body: rate };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/models',
    operationId: 'listModelRates',
    summary: 'Models with a rate, by id, each with its history',
    tag: 'Models',
    query: z.object({ limit: limitQuery, cursor: cursorQuery }),
    responses: { 200: { description: 'Rates by model id', schema: page(rateSchema).meta({ id: 'ModelRateList', description: 'A page of model rates, by model id.' }) } },
    handler: async ({ query, services }) => {
      const list = listKey('models');
      const after = decodeCursor(query.cursor, list, z.string());
      const rates = await listRates(services, { after, limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(rates, query.limit, list, (last) => last.model);
      return { status: 200, body: { data: items, next_cursor } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/models/{model}',
    operationId: 'getModelRate',
    summary: "A model's weights and their history",
    tag: 'Models',
    params: modelParams,
    responses: { 200: { description: 'The rate', schema: rateSchema }, 404: notFound },
    handler: async ({ params, services }) => ({ status: 200, body: await getRate(services, params.model) }),
  }),
  route({
    method: 'DELETE',
    path: '/v1/models/{model}',
    operationId: 'deleteModelRate',
    summary: "End a model's rate now (admin); its events keep the weights they were charged with",
    tag: 'Models',
    adminOnly: true,
    params: modelParams,
    responses: { 204: { description: 'Deleted' }, 404: notFound },
    handler: async ({ params, scope, services }) => {
      await deleteRate(services, scope, params.model);
      return { status: 204, body: undefined };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/usage/by-model',
    operationId: 'getUsageByModel',
    summary: 'Usage per model over UTC days (default: the current period so far), most tokens first; events that name a model',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({
      from: day.optional().describe("The first day (YYYY-MM-DD); default the current period's first day."),
      to: day.optional().describe('The last day (YYYY-MM-DD), included; default today.'),
    }),
    responses: {
      200: { description: 'Usage by model', schema: modelUsageSeriesSchema },
      404: { description: 'The user has no subscription in this shop', codes: ['subscription_not_found'] },
    },
    handler: async ({ params, query, scope, services }) => ({
      status: 200,
      body: await usageByModel(services, scope, params.shop_id, params.user_id, query),
    }),
  }),
];
