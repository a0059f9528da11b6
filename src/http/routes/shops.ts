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

const countSchema = z.object({
  plan_id: z.string().describe('The plan.'),
  status: z.enum(['active', 'suspended', 'canceled']).describe('The subscriptions\' status.'),
  subscriptions: z.number().int().describe('How many of the shop\'s subscriptions have this plan and status.'),
});
const dayUsageSchema = z.object({
  date: z.string().describe('The UTC day (YYYY-MM-DD).'),
  tokens: z.number().int().describe('Tokens the shop used that day, all its subscriptions together.'),
  queries: z.number().int().describe('Usage events that day.'),
});

export const overviewSchema = z
  .object({
    shop_id: z.string().describe('The shop.'),
    as_of: instant.describe('The instant the overview was computed at (RFC 3339 UTC).'),
    counts: z.array(countSchema).describe('Every subscription the shop ever had, counted by plan and status.'),
    daily: z
      .object({
        from: z.string().describe('The first day (YYYY-MM-DD).'),
        to: z.string().describe('The last day (YYYY-MM-DD), included.'),
        data: z.array(dayUsageSchema).describe('Every day from `from` to `to`, days without usage as 0.'),
      })
      .describe("The shop's tokens and queries per day, from the daily rollups."),
    subscriptions: z
      .object({
        data: z.array(rankedSchema).describe('Live subscriptions, those at risk first, then by usage percentage, highest first.'),
        next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last.'),
      })
      .describe("A page of the shop's live subscriptions, ranked."),
  })
  .meta({
    id: 'ShopOverview',
    description: 'A whole shop at once, computed by the database: counts by plan and status, tokens per day, and its subscriptions ranked by risk.',
  });

export const shopRoutes = [
  route({
    method: 'GET',
    path: '/v1/shops/{shop_id}/overview',
    operationId: 'getShopOverview',
    summary:
      'A shop at once: subscriptions by plan and status, tokens per day (from, to: days, both included; default the last 30 days), ' +
      'and a page of its live subscriptions, those at risk first, then by usage percentage (highest first)',
    tag: 'Shops',
    params: z.object({ shop_id: identifier.describe('The shop.') }),
    query: z.object({
      from: day.optional().describe('The first day of the daily series (YYYY-MM-DD); default 29 days before `to`.'),
      to: day.optional().describe('The last day of the daily series (YYYY-MM-DD), included; default today.'),
      limit: z.coerce.number().int().min(1).max(100).default(25).describe('Subscriptions per page (1–100, default 25).'),
      cursor: z.string().max(512).optional().describe('`next_cursor` of the previous page.'),
    }),
    responses: {
      200: { description: 'The overview', schema: overviewSchema },
      404: { description: 'Another shop, for a shop key', codes: ['not_found'] },
    },
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
