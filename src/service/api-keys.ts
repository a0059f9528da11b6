/**
 * API keys: `allot_sk_` + 256 random bits, shown once, stored as SHA-256,
 * found by digest and compared in constant time the first time a server sees
 * them; after that a server knows a key by the key itself (its keyring holds
 * up to 10,000 keys in memory, the price of not hashing every request).
 * Revocation is a write every server sees on its next request (see `Keyring`).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AllotError } from '../domain/errors.ts';
import { isoInstant } from '../domain/clock.ts';
import { findApiKeyByDigest, insertApiKey, isKeyLive, listApiKeyRows, revokeApiKeyRow, type ApiKeyRow } from '../store/api-keys.ts';
import type { Queryable } from '../store/db.ts';
import type { Services } from './context.ts';
import { sha256, sha256Bytes } from './hash.ts';
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

/** What a key grants, fixed for its lifetime. */
interface Grant {
  keyId: string;
  scope: Scope;
}

/** A caller by API key: every unit of work it runs first reads that the key is not revoked. */
class KeyCaller implements Caller {
  readonly services: Services;
  #live: boolean;

  constructor(
    readonly scope: Scope,
    readonly keyId: string,
    readonly unguarded: Services,
    live: boolean,
  ) {
    this.#live = live;
    this.services = unguarded.guardedBy((q) => this.#check(q));
  }

  async #check(q: Queryable): Promise<void> {
    if (!(await isKeyLive(q, this.keyId))) throw unauthorized();
    this.#live = true;
  }

  async confirm(): Promise<void> {
    if (!this.#live) await this.#check(this.unguarded.db);
  }
}

/**
 * Resolves bearer tokens to callers. What a key grants (its id, role and
 * shop) never changes, so once a key has been found by its digest it is
 * remembered by the key itself, and a request with a known key costs no
 * hashing. Whether the key is revoked can change on any server at any
 * moment, so that is read inside every unit of work the request runs (one
 * indexed read in the same transaction), before every read it makes, or
 * once before it is answered when it made neither.
 */
export class Keyring {
  readonly #grants = new Map<string, Grant>();
  readonly #masterDigest: Buffer | null;
  readonly #master: Caller;

  constructor(
    readonly services: Services,
    masterKeyHash: string | null,
    readonly capacity = 10_000,
  ) {
    this.#masterDigest = masterKeyHash === null ? null : Buffer.from(masterKeyHash, 'hex');
    this.#master = { scope: Scope.admin('master'), services, confirm: async () => {} };
  }

  async authenticate(token: string | undefined): Promise<Caller> {
    if (!token) throw new AllotError('unauthorized', 'Send an API key as `Authorization: Bearer <key>`.');
    const known = this.#grants.get(token);
    if (known) return new KeyCaller(known.scope, known.keyId, this.services, false);
    const digest = sha256Bytes(token);
    if (this.#masterDigest !== null && timingSafeEqual(digest, this.#masterDigest)) return this.#master;
    if (!token.startsWith(KEY_PREFIX)) throw unauthorized();
    const row = await findApiKeyByDigest(this.services.db, digest.toString('hex'));
    if (!row || row.revoked_at !== null || !timingSafeEqual(digest, Buffer.from(row.secret_hash, 'hex'))) throw unauthorized();
    const grant = { keyId: row.id, scope: row.role === 'admin' ? Scope.admin(row.id) : Scope.shopKey(row.shop_id ?? '', row.id) };
    this.#remember(token, grant);
    return new KeyCaller(grant.scope, grant.keyId, this.services, true);
  }

  #remember(token: string, grant: Grant): void {
    if (this.#grants.size >= this.capacity) this.#grants.delete(this.#grants.keys().next().value!);
    this.#grants.set(token, grant);
  }
}
