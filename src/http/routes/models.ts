import { z } from 'zod';
import { parseWeight, WeightError } from '../../domain/rates.ts';
import { deleteRate, getRate, listRates, putRate } from '../../service/models.ts';
import { usageByModel } from '../../service/status.ts';
import { route } from '../route.ts';
import { day, decodeCursor, instant, limitQuery, listKey, page, pageOf, shopUserParams } from '../schemas.ts';

/** The longest model id, in the API and in usage events. */
export const MODEL_LENGTH = 200;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A model id in a path: percent-encoded there (`openai%2Fgpt-4o`), as usage events name it; `*` is the default rate. */
const modelId = z
  .string()
  .min(1, 'must not be empty')
  .max(MODEL_LENGTH, `must be at most ${MODEL_LENGTH} characters`)
  .refine((id) => !CONTROL.test(id), 'must not contain control characters')
  .describe('the model id as usage events name it, percent-encoded (openai%2Fgpt-4o); * is the rate for models without their own');

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
  .describe('allowance tokens per token: a decimal 0 … 1000 with at most 6 decimals, as a JSON number or decimal string');

export const rateBody = z
  .object({
    input_weight: weight,
    output_weight: weight,
    cached_input_weight: weight.optional().describe('defaults to input_weight'),
  })
  .strict();

export const weightsSchema = z.object({
  input_weight: z.number(),
  cached_input_weight: z.number(),
  output_weight: z.number(),
});

export const rateSchema = weightsSchema.extend({
  model: z.string(),
  effective_from: instant,
  history: z.array(weightsSchema.extend({ effective_from: instant, effective_to: instant })).describe('earlier weights, newest first'),
});

export const modelUsageSchema = z.object({
  model: z.string(),
  events: z.number().int(),
  input_tokens: z.number().int(),
  cached_input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  tokens: z.number().int().describe('allowance tokens charged'),
});

export const modelUsageSeriesSchema = z.object({
  shop_id: z.string(), user_id: z.string(), from: z.string(), to: z.string(), data: z.array(modelUsageSchema),
});

export const modelRoutes = [
  route({
    method: 'PUT',
    path: '/v1/models/{model}',
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
    summary: 'Models with a rate, by id, each with its history',
    tag: 'Models',
    query: z.object({ limit: limitQuery, cursor: z.string().max(512).optional() }),
    responses: { 200: { description: 'Rates by model id', schema: page(rateSchema) } },
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
    summary: "A model's weights and their history",
    tag: 'Models',
    params: modelParams,
    responses: { 200: { description: 'The rate', schema: rateSchema }, 404: { description: 'model_not_found' } },
    handler: async ({ params, services }) => ({ status: 200, body: await getRate(services, params.model) }),
  }),
  route({
    method: 'DELETE',
    path: '/v1/models/{model}',
    summary: "End a model's rate now (admin); its events keep the weights they were charged with",
    tag: 'Models',
    adminOnly: true,
    params: modelParams,
    responses: { 204: { description: 'Deleted' }, 404: { description: 'model_not_found' } },
    handler: async ({ params, scope, services }) => {
      await deleteRate(services, scope, params.model);
      return { status: 204, body: undefined };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/usage/by-model',
    summary: 'Usage per model over UTC days (default: the current period so far), most tokens first; events that name a model',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({ from: day.optional(), to: day.optional() }),
    responses: { 200: { description: 'Usage by model', schema: modelUsageSeriesSchema }, 404: { description: 'subscription_not_found' } },
    handler: async ({ params, query, scope, services }) => ({
      status: 200,
      body: await usageByModel(services, scope, params.shop_id, params.user_id, query),
    }),
  }),
];
