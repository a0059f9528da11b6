import { z } from 'zod';
import { commitHold, createHold, getHold, releaseHold } from '../../service/reservations.ts';
import { reservationView } from '../../service/views.ts';
import { route } from '../route.ts';
import { clientEventId, identifier, idParams, instant } from '../schemas.ts';
import { chargeFields, refineCharge, usageResultSchema } from './usage.ts';

export const reservationSchema = z.object({
  id: z.string(),
  shop_id: z.string(),
  user_id: z.string(),
  subscription_id: z.string(),
  status: z.enum(['active', 'committed', 'released', 'expired']),
  tokens: z.number().int(),
  expires_at: instant,
  created_at: instant,
  committed_tokens: z.number().int().nullable(),
  event_id: z.string().nullable(),
  remaining_tokens: z.number().int().nullable(),
});

export const commitSchema = usageResultSchema.extend({
  reservation_id: z.string(),
  status: z.literal('committed'),
  reservation_expired: z.boolean(),
});

const shopQuery = z.object({ shop_id: identifier.optional() });

export const reservationBody = z
  .object({
    reservation_id: identifier.optional(),
    shop_id: identifier,
    user_id: identifier,
    ...chargeFields,
    ttl_seconds: z.number().int().min(1).max(3600).optional(),
  })
  .strict()
  .superRefine(refineCharge);
export const commitBody = z
  .object({ ...chargeFields, event_id: clientEventId.optional(), shop_id: identifier.optional() })
  .strict()
  .superRefine(refineCharge);
export const releaseBody = z.object({ shop_id: identifier.optional() }).strict();

export const reservationRoutes = [
  route({
    method: 'POST',
    path: '/v1/reservations',
    summary: 'Hold tokens before an LLM call; the hold and all usage never exceed the allowance',
    tag: 'Reservations',
    body: reservationBody,
    responses: {
      201: { description: 'Held', schema: reservationSchema },
      404: { description: 'subscription_not_found' },
      409: { description: 'subscription_suspended or idempotency_conflict' },
      422: { description: 'too_many_reservations, or model_not_priced (an estimate in counts of a model without a rate)' },
      429: { description: 'quota_exceeded' },
    },
    handler: async ({ body, scope, services }) => {
      const held = await createHold(services, scope, body);
      return { status: 201, body: reservationView(held.reservation, held.remaining_tokens) };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/reservations/{id}',
    summary: 'A reservation (admins pass shop_id when the id is not unique)',
    tag: 'Reservations',
    params: idParams,
    query: shopQuery,
    responses: { 200: { description: 'The reservation', schema: reservationSchema }, 404: { description: 'reservation_not_found' } },
    handler: async ({ params, query, scope, services }) => ({
      status: 200,
      body: reservationView(await getHold(services, scope, { id: params.id, shop_id: query.shop_id }), null),
    }),
  }),
  route({
    method: 'POST',
    path: '/v1/reservations/{id}/commit',
    summary: 'Record the tokens really spent (even above the hold or after expiry) and free the hold',
    tag: 'Reservations',
    params: idParams,
    query: shopQuery,
    body: commitBody,
    responses: {
      200: { description: 'Committed', schema: commitSchema },
      404: { description: 'reservation_not_found' },
      409: { description: 'reservation_not_active or idempotency_conflict' },
      422: { description: 'model_not_priced; nothing stored, the hold stays' },
    },
    handler: async ({ params, query, body, scope, services }) => ({
      status: 200,
      body: await commitHold(services, scope, { ...body, id: params.id, shop_id: body.shop_id ?? query.shop_id }),
    }),
  }),
  route({
    method: 'POST',
    path: '/v1/reservations/{id}/release',
    summary: 'Free the hold without usage (idempotent)',
    tag: 'Reservations',
    params: idParams,
    query: shopQuery,
    body: releaseBody,
    responses: {
      200: { description: 'Released', schema: reservationSchema },
      404: { description: 'reservation_not_found' },
      409: { description: 'reservation_not_active' },
    },
    handler: async ({ params, query, body, scope, services }) => {
      const released = await releaseHold(services, scope, { id: params.id, shop_id: body?.shop_id ?? query.shop_id });
      return { status: 200, body: reservationView(released.reservation, released.remaining_tokens) };
    },
  }),
];
