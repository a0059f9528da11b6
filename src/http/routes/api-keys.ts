import { z } from 'zod';
import { createApiKey, listApiKeys, revokeApiKey } from '../../service/api-keys.ts';
import { route } from '../route.ts';
import { cursorQuery, decodeCursor, identifier, idParams, instant, limitQuery, listKey, page, pageOf } from '../schemas.ts';

const role = z.enum(['admin', 'shop']);
const exampleKey = {
  id: 'key_01kg9yq2d4c7s8t0v3w5x6y7za', name: 'acme backend', role: 'shop', shop_id: 'acme', prefix: 'allot_sk_3f9a2c',
  created_at: '2026-03-01T09:00:00.000Z', revoked_at: null,
};

export const apiKeySchema = z
  .object({
    id: z.string().describe("The key's id (`key_…`), for revoking it."),
    name: z.string().describe('Your name for the key.'),
    role: role.describe('`admin` sees every shop; `shop` sees only its own shop.'),
    shop_id: z.string().nullable().describe("A shop key's shop; null for an admin key."),
    prefix: z.string().describe('The first characters of the key, to recognise it; the key itself is never shown again.'),
    created_at: instant.describe('When the key was made (RFC 3339 UTC).'),
    revoked_at: instant.nullable().describe('When it was revoked; null while it works.'),
  })
  .meta({ id: 'ApiKey', description: 'An API key, without its secret.', examples: [exampleKey] });

export const apiKeyBody = z
  .object({
    name: z.string().min(1).max(200).describe('Your name for the key, e.g. where it is used.'),
    role: role.describe('`admin` sees every shop; `shop` sees only `shop_id`.'),
    shop_id: identifier.optional().describe('The shop of a shop key (required with `role: shop`, refused with `admin`).'),
  })
  .strict()
  .meta({ id: 'CreateApiKeyRequest', description: 'A new API key.', examples: [{ name: 'acme backend', role: 'shop', shop_id: 'acme' }] });
export const createdApiKeySchema = apiKeySchema
  .extend({ key: z.string().describe('The secret key (`allot_sk_…`), shown only in this answer: send it as `Authorization: Bearer <key>`.') })
  .meta({ id: 'CreatedApiKey', description: 'A new API key, with its secret: store it now.', examples: [{ ...exampleKey, key: 'allot_sk_3f9a2c…' }] });

export const apiKeyRoutes = [
  route({
    method: 'POST',
    path: '/v1/api-keys',
    operationId: 'createApiKey',
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
    operationId: 'listApiKeys',
    summary: 'List API keys (admin); secrets are never shown again',
    tag: 'API keys',
    adminOnly: true,
    query: z.object({ limit: limitQuery, cursor: cursorQuery }),
    responses: { 200: { description: 'Keys', schema: page(apiKeySchema).meta({ id: 'ApiKeyList', description: 'A page of API keys, by id.' }) } },
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
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key (admin), at once on every server',
    tag: 'API keys',
    adminOnly: true,
    params: idParams.extend({ id: idParams.shape.id.describe("The key's id (`key_…`).") }),
    responses: { 200: { description: 'Revoked', schema: apiKeySchema }, 404: { description: 'No key has this id', codes: ['not_found'] } },
    handler: async ({ params, scope, services }) => ({ status: 200, body: await revokeApiKey(services, scope, params.id) }),
  }),
];
