import { z } from 'zod';
import { isoInstant } from '../../domain/clock.ts';
import { subscriptionStatus, dailySeries } from '../../service/status.ts';
import {
  cancelSubscription, getSubscription, listPeriods, listShopSubscriptions, putSubscription, setSuspended,
} from '../../service/subscriptions.ts';
import { periodSummaryView, subscriptionView } from '../../service/views.ts';
import { route } from '../route.ts';
import { modelUsageSchema } from './models.ts';
import { booleanQuery, day, decodeCursor, identifier, instant, limitQuery, listKey, page, pageOf, shopUserParams } from '../schemas.ts';

export const subscriptionSchema = z.object({
  id: z.string(),
  shop_id: z.string(),
  user_id: z.string(),
  plan_id: z.string(),
  plan_display_name: z.string(),
  status: z.enum(['active', 'suspended', 'canceled']),
  billing_cycle: z.enum(['monthly', 'yearly']),
  allowance_interval: z.enum(['month', 'year']),
  allocated_tokens: z.number().int(),
  price_minor: z.number().int(),
  currency: z.string(),
  started_at: instant,
  current_period_start: instant,
  current_period_end: instant,
  next_billing_date: instant.nullable(),
  cancel_at_period_end: z.boolean(),
  canceled_at: instant.nullable(),
  pending_plan_id: z.string().nullable(),
  used_tokens: z.number().int(),
  reserved_tokens: z.number().int(),
  remaining_tokens: z.number().int(),
  usage_percentage: z.number(),
});

export const changeSchema = subscriptionSchema.extend({
  action_performed: z.enum(['create', 'upgrade', 'downgrade', 'change', 'none']),
  previous_plan_id: z.string().nullable(),
  effective_date: instant,
  message: z.string(),
});

const alertSchema = z.object({ type: z.enum(['info', 'warning', 'error']), code: z.string(), message: z.string(), action: z.string() });
const recommendationSchema = z.object({ code: z.string(), message: z.string(), plan_id: z.string().optional() });
const dailyPoint = z.object({ date: z.string(), tokens: z.number().int(), queries: z.number().int() });
const tenureSchema = z.object({
  plan_id: z.string(), allocated_tokens: z.number().int(), price_minor: z.number().int(),
  start_date: instant, end_date: instant, change_reason: z.string(),
});

export const statusSchema = subscriptionSchema.extend({
  subscription_id: z.string(),
  current_usage: z.number().int(),
  days_remaining_in_period: z.number().int(),
  next_billing_amount_minor: z.number().int(),
  next_billing_currency: z.string().describe('the currency of next_billing_amount_minor: a pending plan may bill in another'),
  avg_daily_usage: z.number(),
  projected_usage: z.number().int(),
  projected_exhaustion_date: z.string().nullable(),
  usage_trend: z.enum(['increasing', 'decreasing', 'stable']),
  alerts: z.array(alertSchema),
  recommendations: z.array(recommendationSchema),
  usage_history: z
    .object({ daily: z.array(dailyPoint), total_queries: z.number().int(), avg_tokens_per_query: z.number(), peak_daily_usage: z.number().int() })
    .optional(),
  plan_history: z.array(tenureSchema).optional(),
  usage_by_model: z.array(modelUsageSchema).describe('the current period, per model named by its events'),
});

export const periodSchema = z.object({
  subscription_id: z.string(), period_start: instant, period_end: instant, plan_id: z.string(),
  allocated_tokens: z.number().int(), used_tokens: z.number().int(), queries: z.number().int(), peak_daily_tokens: z.number().int(),
});

export const subscriptionChangeBody = z.object({ plan_id: identifier, when: z.enum(['now', 'period_end']).optional() }).strict();
export const cancelBody = z.object({ at_period_end: z.boolean().optional() }).strict();
export const dailySeriesSchema = z.object({ shop_id: z.string(), user_id: z.string(), from: z.string(), to: z.string(), data: z.array(dailyPoint) });

const notFound = { 404: { description: 'subscription_not_found' } };

export const subscriptionRoutes = [
  route({
    method: 'PUT',
    path: '/v1/subscriptions/{shop_id}/{user_id}',
    summary: "Create (201) or change (200) the user's live subscription",
    tag: 'Subscriptions',
    params: shopUserParams,
    body: subscriptionChangeBody,
    responses: {
      200: { description: 'Changed', schema: changeSchema },
      201: { description: 'Created', schema: changeSchema },
      404: { description: 'plan_not_found' },
      422: { description: 'plan_archived or cycle_change_requires_period_end' },
    },
    handler: async ({ params, body, scope, services }) => {
      const result = await putSubscription(services, scope, { ...params, ...body });
      return {
        status: result.created ? 201 : 200,
        body: {
          ...subscriptionView(result.subscription),
          action_performed: result.action_performed,
          previous_plan_id: result.previous_plan_id,
          effective_date: isoInstant(result.effective_date),
          message: result.message,
        },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}',
    summary: 'The live subscription, else the latest canceled one',
    tag: 'Subscriptions',
    params: shopUserParams,
    responses: { 200: { description: 'The subscription', schema: subscriptionSchema }, ...notFound },
    handler: async ({ params, scope, services }) => ({
      status: 200,
      body: subscriptionView(await getSubscription(services, scope, params.shop_id, params.user_id)),
    }),
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions',
    summary: 'List subscriptions (a shop key sees its own shop)',
    tag: 'Subscriptions',
    query: z.object({
      shop_id: identifier.optional(),
      status: z.enum(['active', 'suspended', 'canceled']).optional(),
      limit: limitQuery,
      cursor: z.string().max(512).optional(),
    }),
    responses: { 200: { description: 'Subscriptions by id', schema: page(subscriptionSchema) } },
    handler: async ({ query, scope, services }) => {
      const list = listKey('subscriptions', { shop_id: query.shop_id ?? scope.ownShop ?? undefined, status: query.status });
      const after = decodeCursor(query.cursor, list, z.string());
      const subs = await listShopSubscriptions(services, scope, { shop_id: query.shop_id, status: query.status, after, limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(subs, query.limit, list, (last) => last.id);
      return { status: 200, body: { data: items.map(subscriptionView), next_cursor } };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/subscriptions/{shop_id}/{user_id}/cancel',
    summary: 'Cancel at the end of the period (default) or now',
    tag: 'Subscriptions',
    params: shopUserParams,
    body: cancelBody,
    responses: { 200: { description: 'The subscription', schema: subscriptionSchema }, ...notFound },
    handler: async ({ params, body, scope, services }) => ({
      status: 200,
      body: subscriptionView(await cancelSubscription(services, scope, params.shop_id, params.user_id, body?.at_period_end ?? true)),
    }),
  }),
  route({
    method: 'POST',
    path: '/v1/subscriptions/{shop_id}/{user_id}/suspend',
    summary: 'Suspend: enforced usage and new holds are refused until resumed',
    tag: 'Subscriptions',
    params: shopUserParams,
    responses: { 200: { description: 'The subscription', schema: subscriptionSchema }, ...notFound },
    handler: async ({ params, scope, services }) => ({
      status: 200,
      body: subscriptionView(await setSuspended(services, scope, params.shop_id, params.user_id, true)),
    }),
  }),
  route({
    method: 'POST',
    path: '/v1/subscriptions/{shop_id}/{user_id}/resume',
    summary: 'Resume a suspended subscription',
    tag: 'Subscriptions',
    params: shopUserParams,
    responses: { 200: { description: 'The subscription', schema: subscriptionSchema }, ...notFound },
    handler: async ({ params, scope, services }) => ({
      status: 200,
      body: subscriptionView(await setSuspended(services, scope, params.shop_id, params.user_id, false)),
    }),
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/periods',
    summary: 'Closed allowance periods, newest first (kept forever)',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({ limit: limitQuery, cursor: z.string().max(512).optional() }),
    responses: { 200: { description: 'Period summaries', schema: page(periodSchema) }, ...notFound },
    handler: async ({ params, query, scope, services }) => {
      const list = listKey('periods', params);
      const before = decodeCursor(query.cursor, list, z.number().int());
      const periods = await listPeriods(services, scope, params.shop_id, params.user_id, { before, limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(periods, query.limit, list, (last) => last.period_start);
      return { status: 200, body: { data: items.map(periodSummaryView), next_cursor } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/status',
    summary: 'Status with analytics, alerts and upgrade advice; a canceled subscription reports its final period',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({ include_history: booleanQuery.default(false) }),
    responses: { 200: { description: 'Status', schema: statusSchema }, ...notFound },
    handler: async ({ params, query, scope, services }) => ({
      status: 200,
      body: await subscriptionStatus(services, scope, params.shop_id, params.user_id, query.include_history),
    }),
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/usage/daily',
    summary: 'Daily usage series (UTC days, zero-filled) of the live subscription, else the latest canceled one',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({ from: day.optional(), to: day.optional() }),
    responses: {
      200: {
        description: 'Daily series',
        schema: dailySeriesSchema,
      },
      ...notFound,
    },
    handler: async ({ params, query, scope, services }) => ({
      status: 200,
      body: await dailySeries(services, scope, params.shop_id, params.user_id, query),
    }),
  }),
];
