import { z } from 'zod';
import { COMMIT_EVENT_PREFIX, commitHold, createHold, getHold, releaseHold } from '../../service/reservations.ts';
import { reservationView } from '../../service/views.ts';
import { route } from '../route.ts';
import { clientEventId, identifier, idParams, instant } from '../schemas.ts';
import { chargeFields, refineCharge, usageResultSchema } from './usage.ts';

const ownShop = 'With an admin key, the shop of the reservation when its id is not unique; a shop key uses its own shop.';

export const reservationSchema = z
  .object({
    id: z.string().describe("The reservation's id: yours (`reservation_id`) or one allot made (`res_…`)."),
    shop_id: z.string().describe('The shop.'),
    user_id: z.string().describe('The user.'),
    subscription_id: z.string().describe('The subscription holding the tokens.'),
    status: z.enum(['active', 'committed', 'released', 'expired']).describe('`active` (holding tokens), `committed`, `released`, or `expired` (its time ran out: it holds nothing).'),
    tokens: z.number().int().describe('The tokens held.'),
    expires_at: instant.describe('When an active hold frees itself (RFC 3339 UTC).'),
    created_at: instant.describe('When it was made (RFC 3339 UTC).'),
    committed_tokens: z.number().int().nullable().describe('The tokens recorded by its commit; null until committed.'),
    event_id: z.string().nullable().describe('The usage event its commit recorded; null until committed.'),
    remaining_tokens: z.number().int().describe("The subscription's remaining_tokens (max(0, allocated − used − reserved)) as of this answer."),
  })
  .meta({
    id: 'Reservation',
    description: 'A hold of tokens for one LLM call: the sum of holds and usage never exceeds the allowance.',
    examples: [{
      id: 'res_01kgbz3r5m8q2v7w1x9y4t6npd', shop_id: 'acme', user_id: 'u_42', subscription_id: 'sub_01kg9ys7g0e42rk4sxm4h70pzs', status: 'active',
      tokens: 4000, expires_at: '2026-03-15T10:02:00.000Z', created_at: '2026-03-15T10:00:00.000Z', committed_tokens: null, event_id: null, remaining_tokens: 80000,
    }],
  });

export const commitSchema = usageResultSchema
  .extend({
    reservation_id: z.string().describe('The reservation committed.'),
    status: z.literal('committed').describe('Always `committed`.'),
    reservation_expired: z.boolean().describe('Whether the hold had expired: the usage is recorded all the same.'),
  })
  .meta({
    id: 'CommitResult',
    description: "The usage recorded by a commit, the period's counters after it, and the reservation's end.",
    examples: [{
      event_id: 'call_8f2c1a', subscription_id: 'sub_01kg9ys7g0e42rk4sxm4h70pzs', tokens: 3120, used_tokens: 315120, reserved_tokens: 0, remaining_tokens: 84880,
      allocated_tokens: 400000, usage_percentage: 78.78, over_limit: false, duplicate: false,
      reservation_id: 'res_01kgbz3r5m8q2v7w1x9y4t6npd', status: 'committed', reservation_expired: false,
    }],
  });

const shopQuery = z.object({ shop_id: identifier.optional().describe(ownShop) });
const reservationParams = idParams.extend({ id: idParams.shape.id.describe("The reservation's id.") });
const notFound = { description: 'No such reservation (in this shop)', codes: ['reservation_not_found'] } as const;

export const reservationBody = z
  .object({
    reservation_id: identifier.optional().describe('Your id for the reservation, to make the create safe to retry; default: allot makes one.'),
    shop_id: identifier.describe('The shop of the user.'),
    user_id: identifier.describe('The user whose live subscription holds the tokens.'),
    ...chargeFields,
    ttl_seconds: z.number().int().min(1).max(3600).optional().describe('Seconds until the hold frees itself, 1–3600; default 300.'),
  })
  .strict()
  .superRefine(refineCharge)
  .meta({
    id: 'CreateReservationRequest',
    description: 'Tokens to hold before an LLM call: `tokens`, or an estimate in counts of a model, charged as usage would be.',
    examples: [{ shop_id: 'acme', user_id: 'u_42', tokens: 4000, ttl_seconds: 120 }],
  });
export const commitBody = z
  .object({
    ...chargeFields,
    event_id: clientEventId.optional().describe(`The usage event to record; default \`${COMMIT_EVENT_PREFIX}\` and the reservation's id.`),
    shop_id: identifier.optional().describe(ownShop),
  })
  .strict()
  .superRefine(refineCharge)
  .meta({
    id: 'CommitReservationRequest',
    description: 'The tokens spent by the call the hold was for: recorded even above the hold or after it expired.',
    examples: [{ tokens: 3120, event_id: 'call_8f2c1a' }],
  });
export const releaseBody = z
  .object({ shop_id: identifier.optional().describe(ownShop) })
  .strict()
  .meta({ id: 'ReleaseReservationRequest', description: 'The body may be left out.', examples: [{}] });

export const reservationRoutes = [
  route({
    method: 'POST',
    path: '/v1/reservations',
    operationId: 'createReservation',
    summary: 'Hold tokens before an LLM call; the hold and all usage never exceed the allowance',
    tag: 'Reservations',
    body: reservationBody,
    responses: {
      201: { description: 'Held', schema: reservationSchema },
      404: { description: 'The user has no live subscription in this shop', codes: ['subscription_not_found'] },
      409: { description: 'The subscription is suspended, or the reservation_id exists with other content', codes: ['subscription_suspended', 'idempotency_conflict'] },
      422: { description: 'The subscription holds as many active reservations as it may, or the estimate names a model without a rate (and no `*` rate)', codes: ['too_many_reservations', 'model_not_priced'] },
      429: { description: 'The tokens do not fit the remaining allowance', codes: ['quota_exceeded'] },
    },
    handler: async ({ body, scope, services }) => {
      const held = await createHold(services, scope, body);
      return { status: 201, body: reservationView(held.reservation, held.remaining_tokens) };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/reservations/{id}',
    operationId: 'getReservation',
    summary: 'A reservation (admins pass shop_id when the id is not unique)',
    tag: 'Reservations',
    params: reservationParams,
    query: shopQuery,
    responses: { 200: { description: 'The reservation', schema: reservationSchema }, 404: notFound },
    handler: async ({ params, query, scope, services }) => {
      const found = await getHold(services, scope, { id: params.id, shop_id: query.shop_id });
      return { status: 200, body: reservationView(found.reservation, found.remaining_tokens) };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/reservations/{id}/commit',
    operationId: 'commitReservation',
    summary: 'Record the tokens really spent (even above the hold or after expiry) and free the hold',
    tag: 'Reservations',
    params: reservationParams,
    query: shopQuery,
    body: commitBody,
    responses: {
      200: { description: 'Committed', schema: commitSchema },
      404: { description: "No such reservation (in this shop), or its subscription is gone", codes: ['reservation_not_found', 'subscription_not_found'] },
      409: { description: 'The reservation was released, or committed (or its event_id recorded) with other content', codes: ['reservation_not_active', 'idempotency_conflict'] },
      422: { description: 'The commit gives counts of a model without a rate (and no `*` rate); nothing stored', codes: ['model_not_priced'] },
    },
    handler: async ({ params, query, body, scope, services }) => ({
      status: 200,
      body: await commitHold(services, scope, { ...body, id: params.id, shop_id: body.shop_id ?? query.shop_id }),
    }),
  }),
  route({
    method: 'POST',
    path: '/v1/reservations/{id}/release',
    operationId: 'releaseReservation',
    summary: 'Free the hold without usage (idempotent)',
    tag: 'Reservations',
    params: reservationParams,
    query: shopQuery,
    body: releaseBody,
    responses: {
      200: { description: 'Released', schema: reservationSchema },
      404: notFound,
      409: { description: 'The reservation was committed', codes: ['reservation_not_active'] },
    },
    handler: async ({ params, query, body, scope, services }) => {
      const released = await releaseHold(services, scope, { id: params.id, shop_id: body?.shop_id ?? query.shop_id });
      return { status: 200, body: reservationView(released.reservation, released.remaining_tokens) };
    },
  }),
];
