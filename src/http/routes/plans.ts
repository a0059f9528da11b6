import { isCurrency } from '../../domain/money.ts';
import { z } from 'zod';
import { archive, createPlan, getPlan, listAllPlans } from '../../service/plans.ts';
import { planView } from '../../service/views.ts';
import { route } from '../route.ts';
import { decodeCursor, identifier, idParams, instant, limitQuery, listKey, page, pageOf, booleanQuery } from '../schemas.ts';

export const planBody = z
  .object({
    id: identifier,
    display_name: z.string().min(1).max(200),
    allocated_tokens: z.number().int().min(0).max(1e12),
    price_minor: z.number().int().min(0).max(1e13),
    currency: z.string().refine(isCurrency, 'must be an ISO 4217 code such as USD').describe('ISO 4217 code, e.g. USD'),
    billing_cycle: z.enum(['monthly', 'yearly']),
    allowance_interval: z.enum(['month', 'year']).optional(),
    tier: z.number().int().min(0).max(1_000_000),
  })
  .strict();

export const planSchema = z.object({
  id: z.string(),
  display_name: z.string(),
  allocated_tokens: z.number().int(),
  price_minor: z.number().int(),
  currency: z.string(),
  billing_cycle: z.enum(['monthly', 'yearly']),
  allowance_interval: z.enum(['month', 'year']),
  tier: z.number().int(),
  archived: z.boolean(),
  created_at: instant,
});

export const planRoutes = [
  route({
    method: 'POST',
    path: '/v1/plans',
    summary: 'Create a plan (admin). Plans never change; make a new one instead.',
    tag: 'Plans',
    adminOnly: true,
    body: planBody,
    responses: { 201: { description: 'Created', schema: planSchema }, 409: { description: 'plan_exists' } },
    handler: async ({ body, scope, services }) => ({ status: 201, body: planView(await createPlan(services, scope, body)) }),
  }),
  route({
    method: 'GET',
    path: '/v1/plans',
    summary: 'List plans',
    tag: 'Plans',
    query: z.object({ limit: limitQuery, cursor: z.string().max(512).optional(), include_archived: booleanQuery.default(true) }),
    responses: { 200: { description: 'Plans by id', schema: page(planSchema) } },
    handler: async ({ query, services }) => {
      const list = listKey('plans', { include_archived: query.include_archived });
      const after = decodeCursor(query.cursor, list, z.string());
      const plans = await listAllPlans(services, { includeArchived: query.include_archived, after, limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(plans, query.limit, list, (last) => last.id);
      return { status: 200, body: { data: items.map(planView), next_cursor } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/plans/{id}',
    summary: 'Get a plan',
    tag: 'Plans',
    params: idParams,
    responses: { 200: { description: 'The plan', schema: planSchema }, 404: { description: 'plan_not_found' } },
    handler: async ({ params, services }) => ({ status: 200, body: planView(await getPlan(services, params.id)) }),
  }),
  route({
    method: 'POST',
    path: '/v1/plans/{id}/archive',
    summary: 'Archive a plan (admin): it takes no new subscriptions; existing ones keep it.',
    tag: 'Plans',
    adminOnly: true,
    params: idParams,
    responses: { 200: { description: 'The archived plan', schema: planSchema }, 404: { description: 'plan_not_found' } },
    handler: async ({ params, scope, services }) => ({ status: 200, body: planView(await archive(services, scope, params.id)) }),
  }),
];
