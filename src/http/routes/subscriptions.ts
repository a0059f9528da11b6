import { z } from 'zod';
import { isoInstant } from '../../domain/clock.ts';
import { subscriptionStatus, dailySeries } from '../../service/status.ts';
import {
  cancelSubscription, getSubscription, listPeriods, listShopSubscriptions, putSubscription, setSuspended,
} from '../../service/subscriptions.ts';
import { periodSummaryView, subscriptionView } from '../../service/views.ts';
import { route } from '../route.ts';
import { modelUsageSchema } from './models.ts';
import { booleanQuery, cursorQuery, day, decodeCursor, identifier, instant, limitQuery, listKey, page, pageOf, shopUserParams } from '../schemas.ts';

const subscriptionState = z.enum(['active', 'suspended', 'canceled']);
const billingCycle = z.enum(['monthly', 'yearly']).describe("How often the plan's price is billed.");
const allowanceInterval = z.enum(['month', 'year']).describe('How often the allowance refills: each allowance period is one interval long.');

/** One subscription, as the examples of the answers show it. */
const exampleSubscription = {
  id: 'sub_01kg9ys7g0e42rk4sxm4h70pzs', shop_id: 'acme', user_id: 'u_42', plan_id: 'pro', plan_display_name: 'Pro', status: 'active',
  billing_cycle: 'monthly', allowance_interval: 'month', allocated_tokens: 400000, price_minor: 2999, currency: 'USD',
  started_at: '2026-01-31T10:00:00.000Z', current_period_start: '2026-02-28T10:00:00.000Z', current_period_end: '2026-03-31T10:00:00.000Z',
  next_billing_date: '2026-03-31T10:00:00.000Z', cancel_at_period_end: false, canceled_at: null, pending_plan_id: null,
  used_tokens: 312000, reserved_tokens: 4000, remaining_tokens: 84000, usage_percentage: 78,
};

export const subscriptionSchema = z
  .object({
    id: z.string().describe("The subscription's id (`sub_…`); a new subscription after a cancel gets a new one."),
    shop_id: z.string().describe('The shop the user belongs to.'),
    user_id: z.string().describe('The user within the shop.'),
    plan_id: z.string().describe('The current plan.'),
    plan_display_name: z.string().describe("The current plan's display name."),
    status: subscriptionState.describe('`active`; `suspended` (enforced usage and new holds are refused until resumed); `canceled` (kept readable; a later PUT starts a new subscription).'),
    billing_cycle: billingCycle,
    allowance_interval: allowanceInterval,
    allocated_tokens: z.number().int().describe('Tokens granted for the current allowance period.'),
    price_minor: z.number().int().describe('The price per billing cycle in minor units of `currency` (2999 = 29.99).'),
    currency: z.string().describe('ISO 4217 code of the price.'),
    started_at: instant.describe("When the subscription started: the anchor every period is computed from (RFC 3339 UTC)."),
    current_period_start: instant.describe('The first instant of the current allowance period (RFC 3339 UTC).'),
    current_period_end: instant.describe('The end of the current allowance period, excluded: the anchor plus whole intervals, a missing month day clamped to the last (Jan 31 → Feb 28 → Mar 31).'),
    next_billing_date: instant.nullable().describe('When the next billing cycle starts (and a pending plan applies); null once canceled.'),
    cancel_at_period_end: z.boolean().describe('Whether the subscription cancels itself at `next_billing_date`.'),
    canceled_at: instant.nullable().describe('When it was canceled; null while live.'),
    pending_plan_id: z.string().nullable().describe('The plan that applies at `next_billing_date` (a change asked with `when: period_end`); null if none.'),
    used_tokens: z.number().int().describe('Tokens used in the current period (may exceed `allocated_tokens`: unenforced usage is always recorded).'),
    reserved_tokens: z.number().int().describe('Tokens held by active reservations.'),
    remaining_tokens: z.number().int().describe('max(0, allocated_tokens − used_tokens − reserved_tokens).'),
    usage_percentage: z.number().describe('round(100 × used_tokens / allocated_tokens, 2); may exceed 100; 0 when allocated_tokens is 0.'),
  })
  .meta({ id: 'Subscription', description: "A user's subscription in a shop, with the counters of its current allowance period.", examples: [exampleSubscription] });

export const changeSchema = subscriptionSchema
  .extend({
    action_performed: z.enum(['create', 'upgrade', 'downgrade', 'change', 'none']).describe(
      "What the request did: `create`d a subscription; `upgrade` or `downgrade` (the new plan's allocated_tokens is larger or smaller); `change` (the same allowance); `none` (already on that plan).",
    ),
    previous_plan_id: z.string().nullable().describe('The plan before this change; null on create.'),
    effective_date: instant.describe('When the change takes effect: now, or the end of the billing period with `when: period_end`.'),
    message: z.string().describe('What happened, in words, e.g. "Upgraded to Pro".'),
  })
  .meta({
    id: 'SubscriptionChange',
    description: 'The subscription after a create or a change, and what was done.',
    examples: [{ ...exampleSubscription, action_performed: 'upgrade', previous_plan_id: 'basic', effective_date: '2026-03-15T10:00:00.000Z', message: 'Upgraded to Pro' }],
  });

const alertSchema = z
  .object({
    type: z.enum(['info', 'warning', 'error']).describe('How serious the alert is.'),
    code: z.string().describe(
      'The highest of `limit_reached` (usage ≥ 100 %, error), `usage_critical` (≥ 90 %, error), `usage_high` (≥ 75 %, warning), `usage_moderate` (≥ 50 %, info); '
      + 'and `renewal_soon` (info; `ends_soon` when canceling) when days_remaining_in_period ≤ 3; and `subscription_suspended` (error).',
    ),
    message: z.string().describe('The alert in words.'),
    action: z.string().describe('What to do about it, in words.'),
  })
  .meta({ id: 'Alert', description: 'Something about the subscription worth showing its user.' });

const recommendationSchema = z
  .object({
    code: z.string().describe(
      '`upgrade` when usage is over 80 % or projected_usage over 90 % of the allowance and a higher-tier plan exists; '
      + '`usage_increasing` when usage_trend is `increasing`; `high_tokens_per_query` when the period averages over 300 tokens per query (configurable).',
    ),
    message: z.string().describe('The advice in words, e.g. "Consider upgrading to Pro for 2.5x more tokens" (the ratio of allowances).'),
    plan_id: z.string().optional().describe('With `upgrade`: the plan advised, the next tier up with a larger allowance.'),
  })
  .meta({ id: 'Recommendation', description: 'Advice for the subscription, from its usage.' });

const dailyPoint = z
  .object({
    date: z.string().describe('The UTC day, YYYY-MM-DD.'),
    tokens: z.number().int().describe('Tokens used that day.'),
    queries: z.number().int().describe('Usage events recorded that day.'),
  })
  .meta({ id: 'DailyUsage', description: "One UTC day's usage." });

const tenureSchema = z
  .object({
    plan_id: z.string().describe('The plan held.'),
    allocated_tokens: z.number().int().describe("The plan's allowance."),
    price_minor: z.number().int().describe("The plan's price per billing cycle, in minor units."),
    start_date: instant.describe('When the plan started to apply.'),
    end_date: instant.describe('When it stopped applying.'),
    change_reason: z.string().describe('What ended it: `upgrade`, `downgrade` or `change`.'),
  })
  .meta({ id: 'PlanTenure', description: 'A plan the subscription held before, and for how long.' });

const usageHistorySchema = z
  .object({
    daily: z.array(dailyPoint).describe("Every UTC day from the period's first day to today, zero-filled."),
    total_queries: z.number().int().describe('Usage events recorded in the current period.'),
    avg_tokens_per_query: z.number().describe("round(the period's tokens / total_queries, 2); 0 without queries."),
    peak_daily_usage: z.number().int().describe('The most tokens used on one day of the period.'),
  })
  .meta({ id: 'UsageHistory', description: "The current period's usage, day by day." });

export const statusSchema = subscriptionSchema
  .extend({
    subscription_id: z.string().describe('The same as `id`.'),
    current_usage: z.number().int().describe('The same as `used_tokens`.'),
    days_remaining_in_period: z.number().int().describe('floor((current_period_end − now) / 1 day), at least 0.'),
    next_billing_amount_minor: z.number().int().describe('What the next billing cycle costs, in minor units: the pending plan\'s price if one is pending; 0 when the subscription is canceled or ends at the period end.'),
    next_billing_currency: z.string().describe('the currency of next_billing_amount_minor: a pending plan may bill in another'),
    avg_daily_usage: z.number().describe(
      "Tokens per day lately: the tokens of the last min(7, d) UTC days (today included, days without usage as 0) / min(7, d), rounded to 2 decimals; "
      + "d = the days from the period's first day to today, both included.",
    ),
    projected_usage: z.number().int().describe('Tokens expected by the period end: round(used_tokens + avg_daily_usage × days_remaining_in_period).'),
    projected_exhaustion_date: z.string().nullable().describe(
      'The UTC day (YYYY-MM-DD) remaining_tokens run out at avg_daily_usage: today + ceil(remaining_tokens / avg_daily_usage) days (today when none remain); '
      + 'null when avg_daily_usage is 0 or that day is on or after the period end.',
    ),
    usage_trend: z.enum(['increasing', 'decreasing', 'stable']).describe(
      'The tokens of the last 3 days against the 3 days before: over 1.1× `increasing`, under 0.9× `decreasing`, else `stable`; `stable` until the period has 6 days.',
    ),
    alerts: z.array(alertSchema).describe('Alerts about the usage and the subscription; empty when all is well.'),
    recommendations: z.array(recommendationSchema).describe('Advice from the usage; empty when none applies.'),
    usage_history: usageHistorySchema.optional().describe('With include_history=true: the period day by day.'),
    plan_history: z.array(tenureSchema).optional().describe('With include_history=true: the plans held before the current one, oldest first.'),
    usage_by_model: z.array(modelUsageSchema).describe('The current period, per model named by its events (from the by-model daily rollups).'),
  })
  .meta({
    id: 'SubscriptionStatus',
    description: 'The subscription with analytics of its current period, alerts and advice. A canceled subscription reports its final period as it closed.',
    examples: [{
      ...exampleSubscription,
      subscription_id: exampleSubscription.id, current_usage: 312000, days_remaining_in_period: 16,
      next_billing_amount_minor: 2999, next_billing_currency: 'USD',
      avg_daily_usage: 14000, projected_usage: 536000, projected_exhaustion_date: '2026-03-21', usage_trend: 'stable',
      alerts: [{ type: 'warning', code: 'usage_high', message: "High usage: 78% of this period's tokens used", action: 'Monitor usage closely' }],
      recommendations: [{ code: 'upgrade', message: 'Consider upgrading to Enterprise for 5x more tokens', plan_id: 'enterprise' }],
      usage_by_model: [],
    }],
  });

export const periodSchema = z
  .object({
    subscription_id: z.string().describe('The subscription the period belongs to.'),
    period_start: instant.describe('The first instant of the period.'),
    period_end: instant.describe('The end of the period, excluded.'),
    plan_id: z.string().describe('The plan at the period end.'),
    allocated_tokens: z.number().int().describe("The period's allowance."),
    used_tokens: z.number().int().describe('Tokens used in the period.'),
    queries: z.number().int().describe('Usage events in the period.'),
    peak_daily_tokens: z.number().int().describe('The most tokens used on one UTC day of the period.'),
  })
  .meta({
    id: 'PeriodSummary',
    description: 'A closed allowance period, kept forever.',
    examples: [{
      subscription_id: exampleSubscription.id, period_start: '2026-01-31T10:00:00.000Z', period_end: '2026-02-28T10:00:00.000Z', plan_id: 'pro',
      allocated_tokens: 400000, used_tokens: 287500, queries: 1904, peak_daily_tokens: 21800,
    }],
  });

export const subscriptionChangeBody = z
  .object({
    plan_id: identifier.describe('The plan to subscribe to or change to.'),
    when: z.enum(['now', 'period_end']).optional().describe(
      '`now` (default): the new allowance applies to the current period at once, usage carries over. '
      + '`period_end`: the change waits for the end of the billing period (`pending_plan_id`). A change of billing cycle or allowance interval needs `period_end`.',
    ),
  })
  .strict()
  .meta({ id: 'SubscriptionChangeRequest', description: 'The plan to create the subscription with, or to change it to.', examples: [{ plan_id: 'pro', when: 'now' }] });
export const cancelBody = z
  .object({
    at_period_end: z.boolean().optional().describe('true (default): the subscription stays active, refilling, until `next_billing_date`; false cancels now.'),
  })
  .strict()
  .meta({ id: 'CancelRequest', description: 'When to cancel; the body may be left out.', examples: [{ at_period_end: true }] });
export const dailySeriesSchema = z
  .object({
    shop_id: z.string().describe('The shop.'),
    user_id: z.string().describe('The user.'),
    from: z.string().describe('The first day of the series, YYYY-MM-DD.'),
    to: z.string().describe('The last day of the series, included.'),
    data: z.array(dailyPoint).describe('Every UTC day from `from` to `to`, zero-filled.'),
  })
  .meta({
    id: 'DailyUsageSeries',
    description: "A subscription's usage per UTC day, for charts.",
    examples: [{
      shop_id: 'acme', user_id: 'u_42', from: '2026-03-13', to: '2026-03-15',
      data: [{ date: '2026-03-13', tokens: 15200, queries: 96 }, { date: '2026-03-14', tokens: 0, queries: 0 }, { date: '2026-03-15', tokens: 9400, queries: 61 }],
    }],
  });

const notFound = { 404: { description: 'The user has no subscription in this shop', codes: ['subscription_not_found'] } } as const;

/**
 * A periods cursor: the last period's start and its subscription's id, as
 * periods of one user may start in one instant. A bare start, as cursors
 * were once made, still pages on.
 */
const periodCursor = z.union([
  z.tuple([z.number().int(), z.string()]).transform(([start, id]) => ({ period_start: start, subscription_id: id })),
  z.number().int().transform((start) => ({ period_start: start, subscription_id: '' })),
]);

export const subscriptionRoutes = [
  route({
    method: 'PUT',
    path: '/v1/subscriptions/{shop_id}/{user_id}',
    operationId: 'putSubscription',
    summary: "Create (201) or change (200) the user's live subscription",
    tag: 'Subscriptions',
    params: shopUserParams,
    body: subscriptionChangeBody,
    responses: {
      200: { description: 'Changed', schema: changeSchema },
      201: { description: 'Created', schema: changeSchema },
      404: { description: 'No plan has this id, or (with a shop key) another shop', codes: ['plan_not_found', 'not_found'] },
      422: { description: 'The plan is archived, or the cycle changes without `when: period_end`', codes: ['plan_archived', 'cycle_change_requires_period_end'] },
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
    operationId: 'getSubscription',
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
    operationId: 'listSubscriptions',
    summary: 'List subscriptions (a shop key sees its own shop)',
    tag: 'Subscriptions',
    query: z.object({
      shop_id: identifier.optional().describe("Only this shop's subscriptions (a shop key sees only its own shop anyway)."),
      status: subscriptionState.optional().describe('Only subscriptions in this state.'),
      limit: limitQuery,
      cursor: cursorQuery,
    }),
    responses: {
      200: { description: 'Subscriptions by id', schema: page(subscriptionSchema).meta({ id: 'SubscriptionList', description: 'A page of subscriptions, by id.' }) },
      404: { description: 'With a shop key: another shop', codes: ['not_found'] },
    },
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
    operationId: 'cancelSubscription',
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
    operationId: 'suspendSubscription',
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
    operationId: 'resumeSubscription',
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
    operationId: 'listPeriods',
    summary: 'Closed allowance periods, newest first (kept forever)',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({ limit: limitQuery, cursor: cursorQuery }),
    responses: {
      200: { description: 'Period summaries', schema: page(periodSchema).meta({ id: 'PeriodSummaryList', description: 'A page of closed periods, newest first.' }) },
      ...notFound,
    },
    handler: async ({ params, query, scope, services }) => {
      const list = listKey('periods', params);
      const before = decodeCursor(query.cursor, list, periodCursor);
      const periods = await listPeriods(services, scope, params.shop_id, params.user_id, { before, limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(periods, query.limit, list, (last) => [last.period_start, last.subscription_id]);
      return { status: 200, body: { data: items.map(periodSummaryView), next_cursor } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/status',
    operationId: 'getSubscriptionStatus',
    summary: 'Status with analytics, alerts and upgrade advice; a canceled subscription reports its final period',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({ include_history: booleanQuery.default(false).describe('Whether to add `usage_history` and `plan_history`.') }),
    responses: { 200: { description: 'Status', schema: statusSchema }, ...notFound },
    handler: async ({ params, query, scope, services }) => ({
      status: 200,
      body: await subscriptionStatus(services, scope, params.shop_id, params.user_id, query.include_history),
    }),
  }),
  route({
    method: 'GET',
    path: '/v1/subscriptions/{shop_id}/{user_id}/usage/daily',
    operationId: 'getDailyUsage',
    summary: 'Daily usage series (UTC days, zero-filled) of the live subscription, else the latest canceled one',
    tag: 'Subscriptions',
    params: shopUserParams,
    query: z.object({
      from: day.optional().describe("The first day, YYYY-MM-DD (default: the current period's first day)."),
      to: day.optional().describe('The last day, included, YYYY-MM-DD (default: today, or the last day of a canceled subscription). At most 1000 days in all.'),
    }),
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
