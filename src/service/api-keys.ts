/**
 * API keys: `allot_sk_` + 256 random bits, shown once, stored as SHA-256,
 * looked up by digest and compared in constant time. Revocation is a write
 * every server sees on its next request (see `Keyring`).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AllotError } from '../domain/errors.ts';
import { isoInstant } from '../domain/clock.ts';
import { findApiKeyByDigest, insertApiKey, isKeyLive, listApiKeyRows, revokeApiKeyRow, type ApiKeyRow } from '../store/api-keys.ts';
import type { Queryable } from '../store/db.ts';
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

function unauthorized(): AllotError {
  return new AllotError('unauthorized', 'The API key is not valid.');
}

/** Who presented a key: the scope it grants, and services that keep checking the key. */
export interface Caller {
  scope: Scope;
  services: Services;
  /** Refuses with 401 unless the key was seen live during this request; for answers that ran no unit of work. */
  confirm(): Promise<void>;
}

type Grant = Pick<ApiKeyRow, 'id' | 'role' | 'shop_id' | 'secret_hash'>;

/**
 * Resolves bearer tokens to callers. What a key grants (its id, role and
 * shop) never changes, so it is remembered by digest. Whether the key is
 * revoked can change on any server at any moment, so that is read inside
 * every unit of work the request runs (one indexed read in the same
 * transaction), before every read it makes, or once before it is answered
 * when it made neither.
 */
export class Keyring {
  readonly #grants = new Map<string, Grant>();

  constructor(
    readonly services: Services,
    readonly masterKeyHash: string | null,
    readonly capacity = 10_000,
  ) {}

  async authenticate(token: string | undefined): Promise<Caller> {
    if (!token) throw new AllotError('unauthorized', 'Send an API key as `Authorization: Bearer <key>`.');
    const digest = sha256(token);
    if (this.masterKeyHash !== null && sameDigest(digest, this.masterKeyHash)) {
      return { scope: Scope.admin('master'), services: this.services, confirm: async () => {} };
    }
    if (!token.startsWith(KEY_PREFIX)) throw unauthorized();
    let grant = this.#grants.get(digest);
    let live = false;
    if (!grant) {
      const row = await findApiKeyByDigest(this.services.db, digest);
      if (!row || row.revoked_at !== null) throw unauthorized();
      grant = { id: row.id, role: row.role, shop_id: row.shop_id, secret_hash: row.secret_hash };
      this.#remember(digest, grant);
      live = true;
    }
    if (!sameDigest(digest, grant.secret_hash)) throw unauthorized();
    const keyId = grant.id;
    const check = async (q: Queryable) => {
      if (!(await isKeyLive(q, keyId))) throw unauthorized();
      live = true;
    };
    return {
      scope: grant.role === 'admin' ? Scope.admin(keyId) : Scope.shopKey(grant.shop_id ?? '', keyId),
      services: this.services.guardedBy(check),
      confirm: async () => {
        if (!live) await check(this.services.db);
      },
    };
  }

  #remember(digest: string, grant: Grant): void {
    if (this.#grants.size >= this.capacity) this.#grants.delete(this.#grants.keys().next().value!);
    this.#grants.set(digest, grant);
  }
}
