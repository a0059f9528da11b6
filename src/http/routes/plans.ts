import { isCurrency } from '../../domain/money.ts';
import { z } from 'zod';
import { archive, createPlan, getPlan, listAllPlans } from '../../service/plans.ts';
import { planView } from '../../service/views.ts';
import { route } from '../route.ts';
import { decodeCursor, identifier, idParams, instant, limitQuery, listKey, page, pageOf, booleanQuery, cursorQuery } from '../schemas.ts';

const billingCycle = z.enum(['monthly', 'yearly']).describe('How often the price is billed: every month or every year from the start.');
const allowanceInterval = z.enum(['month', 'year']);

export const planBody = z
  .object({
    id: identifier.describe('Your id for the plan, e.g. `pro`: 1–128 characters of A-Z a-z 0-9 . _ : @ -.'),
    display_name: z.string().min(1).max(200).describe('The name users see, e.g. in upgrade advice.'),
    allocated_tokens: z.number().int().min(0).max(1e12).describe('Tokens granted every allowance interval.'),
    price_minor: z.number().int().min(0).max(1e13).describe('The price per billing cycle in minor units of `currency` (2999 = 29.99).'),
    currency: z.string().refine(isCurrency, 'must be an ISO 4217 code such as USD').describe('ISO 4217 code, e.g. USD'),
    billing_cycle: billingCycle,
    allowance_interval: allowanceInterval.optional().describe('How often `allocated_tokens` refills; default `month`, also for yearly plans (billed yearly, tokens monthly). `year` only with a yearly cycle.'),
    tier: z.number().int().min(0).max(1_000_000).describe('Orders plans for upgrade advice: a higher tier is an upgrade.'),
  })
  .strict()
  .meta({
    id: 'CreatePlanRequest',
    description: 'A new plan. Its allowance, price and cycle never change once made: make a new plan instead.',
    examples: [{ id: 'pro', display_name: 'Pro', allocated_tokens: 400000, price_minor: 2999, currency: 'USD', billing_cycle: 'monthly', tier: 2 }],
  });

export const planSchema = z
  .object({
    id: z.string().describe("The plan's id."),
    display_name: z.string().describe('The name users see.'),
    allocated_tokens: z.number().int().describe('Tokens granted every allowance interval.'),
    price_minor: z.number().int().describe('The price per billing cycle in minor units of `currency` (2999 = 29.99).'),
    currency: z.string().describe('ISO 4217 code of the price, e.g. USD.'),
    billing_cycle: billingCycle,
    allowance_interval: allowanceInterval.describe('How often `allocated_tokens` refills: every month or every year from the start.'),
    tier: z.number().int().describe('Orders plans for upgrade advice: a higher tier is an upgrade.'),
    archived: z.boolean().describe('An archived plan takes no new subscriptions; existing ones keep it.'),
    created_at: instant.describe('When the plan was made (RFC 3339 UTC).'),
  })
  .meta({
    id: 'Plan',
    description: 'A plan: an allowance of tokens per interval, sold at a price per billing cycle.',
    examples: [{
      id: 'pro', display_name: 'Pro', allocated_tokens: 400000, price_minor: 2999, currency: 'USD', billing_cycle: 'monthly',
      allowance_interval: 'month', tier: 2, archived: false, created_at: '2026-01-01T00:00:00.000Z',
    }],
  });

const planIdParams = idParams.extend({ id: idParams.shape.id.describe("The plan's id.") });
const planNotFound = { 404: { description: 'No plan has this id', codes: ['plan_not_found'] } } as const;

export const planRoutes = [
  route({
    method: 'POST',
    path: '/v1/plans',
    operationId: 'createPlan',
    summary: 'Create a plan (admin). Plans never change; make a new one instead.',
    tag: 'Plans',
    adminOnly: true,
    body: planBody,
    responses: { 201: { description: 'Created', schema: planSchema }, 409: { description: 'A plan with this id exists', codes: ['plan_exists'] } },
    handler: async ({ body, scope, services }) => ({ status: 201, body: planView(await createPlan(services, scope, body)) }),
  }),
  route({
    method: 'GET',
    path: '/v1/plans',
    operationId: 'listPlans',
    summary: 'List plans',
    tag: 'Plans',
    query: z.object({
      limit: limitQuery,
      cursor: cursorQuery,
      include_archived: booleanQuery.default(true).describe('Whether archived plans are listed too.'),
    }),
    responses: { 200: { description: 'Plans by id', schema: page(planSchema).meta({ id: 'PlanList', description: 'A page of plans, by id.' }) } },
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
    operationId: 'getPlan',
    summary: 'Get a plan',
    tag: 'Plans',
    params: planIdParams,
    responses: { 200: { description: 'The plan', schema: planSchema }, ...planNotFound },
    handler: async ({ params, services }) => ({ status: 200, body: planView(await getPlan(services, params.id)) }),
  }),
  route({
    method: 'POST',
    path: '/v1/plans/{id}/archive',
    operationId: 'archivePlan',
    summary: 'Archive a plan (admin): it takes no new subscriptions; existing ones keep it.',
    tag: 'Plans',
    adminOnly: true,
    params: planIdParams,
    responses: { 200: { description: 'The archived plan', schema: planSchema }, ...planNotFound },
    handler: async ({ params, scope, services }) => ({ status: 200, body: planView(await archive(services, scope, params.id)) }),
  }),
];
