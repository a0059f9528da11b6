import { z } from 'zod';
import { createApiKey, listApiKeys, revokeApiKey } from '../../service/api-keys.ts';
import { route } from '../route.ts';
import { decodeCursor, identifier, idParams, instant, limitQuery, listKey, page, pageOf } from '../schemas.ts';

export const apiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(['admin', 'shop']),
  shop_id: z.string().nullable(),
  prefix: z.string(),
  created_at: instant,
  revoked_at: instant.nullable(),
});

export const apiKeyBody = z
  .object({ name: z.string().min(1).max(200), role: z.enum(['admin', 'shop']), shop_id: identifier.optional() })
  .strict();
export const createdApiKeySchema = apiKeySchema.extend({ key: z.string() });

export const apiKeyRoutes = [
  route({
    method: 'POST',
    path: '/v1/api-keys',
    summary: 'Create an API key (admin); the key is shown only in this answer',
    tag: 'API keys',
    adminOnly: true,
    body: apiKeyBody,
    responses: { 201: { description: 'Created', schema: createdApiKeySchema } },
    handler: async ({ body, scope, services }) => ({ status: 201, body: await createApiKey(services, scope, body) }),
  }),
  route({
    method: 'GET',
    path: '/v1/api-keys',
    summary: 'List API keys (admin); secrets are never shown again',
    tag: 'API keys',
    adminOnly: true,
    query: z.object({ limit: limitQuery, cursor: z.string().max(512).optional() }),
    responses: { 200: { description: 'Keys', schema: page(apiKeySchema) } },
    handler: async ({ query, scope, services }) => {
      const list = listKey('api-keys');
      const keys = await listApiKeys(services, scope, { after: decodeCursor(query.cursor, list, z.string()), limit: query.limit + 1 });
      const { items, next_cursor } = pageOf(keys, query.limit, list, (last) => last.id);
      return { status: 200, body: { data: items, next_cursor } };
    },
  }),
  route({
    method: 'DELETE',
    path: '/v1/api-keys/{id}',
    summary: 'Revoke an API key (admin), at once on every server',
    tag: 'API keys',
    adminOnly: true,
    params: idParams,
    responses: { 200: { description: 'Revoked', schema: apiKeySchema }, 404: { description: 'not_found' } },
    handler: async ({ params, scope, services }) => ({ status: 200, body: await revokeApiKey(services, scope, params.id) }),
  }),
];
