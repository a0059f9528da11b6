/**
 * API keys: `allot_sk_` + 256 random bits, shown once, stored as SHA-256,
 * looked up by digest and compared in constant time. Revocation is a write
 * every server sees on its next request: nothing about keys is cached.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AllotError } from '../domain/errors.ts';
import { isoInstant } from '../domain/clock.ts';
import { findApiKeyByDigest, insertApiKey, listApiKeyRows, revokeApiKeyRow, type ApiKeyRow } from '../store/api-keys.ts';
import type { Services } from './context.ts';
import { sha256 } from './hash.ts';
import { newId } from './ids.ts';
import { Scope, type Role } from './scope.ts';

export const KEY_PREFIX = 'allot_sk_';

export function apiKeyView(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    shop_id: row.shop_id,
    prefix: row.prefix,
    created_at: isoInstant(row.created_at),
    revoked_at: row.revoked_at === null ? null : isoInstant(row.revoked_at),
  };
}

export async function createApiKey(
  services: Services,
  scope: Scope,
  input: { name: string; role: Role; shop_id?: string },
): Promise<ReturnType<typeof apiKeyView> & { key: string }> {
  scope.requireAdmin();
  if (input.role === 'shop' && !input.shop_id) {
    throw new AllotError('validation_error', 'A shop key needs shop_id.', { errors: [{ path: 'shop_id', message: 'required when role is shop' }] });
  }
  if (input.role === 'admin' && input.shop_id) {
    throw new AllotError('validation_error', 'An admin key has no shop_id.', { errors: [{ path: 'shop_id', message: 'not allowed when role is admin' }] });
  }
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return services.write(async ({ q, now }) => {
    const row: ApiKeyRow = {
      id: newId('key', now),
      name: input.name,
      role: input.role,
      shop_id: input.shop_id ?? null,
      prefix: key.slice(0, KEY_PREFIX.length + 6),
      secret_hash: sha256(key),
      created_at: now,
      revoked_at: null,
    };
    await insertApiKey(q, row);
    return { ...apiKeyView(row), key };
  });
}

export async function listApiKeys(services: Services, scope: Scope, page: { after?: string; limit: number }) {
  scope.requireAdmin();
  const rows = await services.read(({ q }) => listApiKeyRows(q, page));
  return rows.map(apiKeyView);
}

export async function revokeApiKey(services: Services, scope: Scope, id: string) {
  scope.requireAdmin();
  const row = await services.write(({ q, now }) => revokeApiKeyRow(q, id, now));
  if (!row) throw new AllotError('not_found', `No API key ${id}.`);
  return apiKeyView(row);
}

function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Resolves a bearer token to a scope, or 401. */
export async function authenticate(services: Services, masterKeyHash: string | null, token: string | undefined): Promise<Scope> {
  if (!token) throw new AllotError('unauthorized', 'Send an API key as `Authorization: Bearer <key>`.');
  const digest = sha256(token);
  if (masterKeyHash !== null && sameDigest(digest, masterKeyHash)) return Scope.admin('master');
  if (token.startsWith(KEY_PREFIX)) {
    const row = await findApiKeyByDigest(services.db, digest);
    if (row && row.revoked_at === null && sameDigest(digest, row.secret_hash)) {
      return row.role === 'admin' ? Scope.admin(row.id) : Scope.shopKey(row.shop_id ?? '', row.id);
    }
  }
  throw new AllotError('unauthorized', 'The API key is not valid.');
}
