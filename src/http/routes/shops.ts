import { z } from 'zod';
import { isoInstant } from '../../domain/clock.ts';
import { shopOverview } from '../../service/shops.ts';
import { subscriptionView } from '../../service/views.ts';
import { route } from '../route.ts';
import { day, decodeCursor, identifier, instant, listKey, encodeCursor } from '../schemas.ts';
import { subscriptionSchema } from './subscriptions.ts';

const rankedSchema = subscriptionSchema.extend({
  at_risk: z.boolean().describe('past_75 or runs_out_in_period'),
  past_75: z.boolean().describe('at least 75 % of the allowance used'),
  runs_out_in_period: z.boolean().describe('at this period\'s pace so far (at least one day counted), the allowance runs out before the period ends'),
});

export const overviewSchema = z.object({
  shop_id: z.string(),
  as_of: instant,
  counts: z.array(z.object({ plan_id: z.string(), status: z.enum(['active', 'suspended', 'canceled']), subscriptions: z.number().int() })),
  daily: z.object({
    from: z.string(),
    to: z.string(),
    data: z.array(z.object({ date: z.string(), tokens: z.number().int(), queries: z.number().int() })),
  }),
  subscriptions: z.object({ data: z.array(rankedSchema), next_cursor: z.string().nullable() }),
});

export const shopRoutes = [
  route({
    method: 'GET',
    path: '/v1/shops/{shop_id}/overview',
    summary:
      'A shop at once: subscriptions by plan and status, tokens per day (from, to: days, both included; default the last 30 days), ' +
      'and a page of its live subscriptions, those at risk first, then by usage percentage (highest first)',
    tag: 'Shops',
    params: z.object({ shop_id: identifier }),
    query: z.object({
      from: day.optional(),
      to: day.optional(),
      limit: z.coerce.number().int().min(1).max(100).default(25),
      cursor: z.string().max(512).optional(),
    }),
    responses: { 200: { description: 'The overview', schema: overviewSchema }, 404: { description: 'not_found (another shop, for a shop key)' } },
    handler: async ({ params, query, scope, services }) => {
      const list = listKey('shop-overview', { shop_id: params.shop_id });
      const offset = decodeCursor(query.cursor, list, z.number().int().min(0).max(10_000_000)) ?? 0;
      const overview = await shopOverview(services, scope, params.shop_id, { from: query.from, to: query.to, offset, limit: query.limit + 1 });
      const rows = overview.ranked.slice(0, query.limit);
      return {
        status: 200,
        body: {
          shop_id: params.shop_id,
          as_of: isoInstant(overview.now),
          counts: overview.counts,
          daily: { from: overview.from, to: overview.to, data: overview.daily },
          subscriptions: {
            data: rows.map((r) => ({
              ...subscriptionView(r.subscription),
              at_risk: r.past_75 || r.runs_out,
              past_75: r.past_75,
              runs_out_in_period: r.runs_out,
            })),
            next_cursor: overview.ranked.length > query.limit ? encodeCursor(list, offset + query.limit) : null,
          },
        },
      };
    },
  }),
];
