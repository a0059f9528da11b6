/**
 * SQL for API keys: stored by SHA-256 digest, never the key itself. Every
 * write to `api_keys` is here: a transaction remembers a key it found live
 * (`isKeyLive`), and a write that changes that fact must forget it.
 */
import type { Db, Queryable } from './db.ts';

export interface ApiKeyRow {
  id: string;
  name: string;
  role: 'admin' | 'shop';
  shop_id: string | null;
  prefix: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export async function insertApiKey(q: Queryable, row: ApiKeyRow): Promise<void> {
  await q.run(
    'INSERT INTO api_keys (id, name, role, shop_id, prefix, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    [row.id, row.name, row.role, row.shop_id, row.prefix, row.secret_hash, row.created_at],
  );
}

export async function listApiKeyRows(q: Queryable, page: { after?: string; limit: number }): Promise<ApiKeyRow[]> {
  return q.all<ApiKeyRow>('SELECT * FROM api_keys WHERE id > ? ORDER BY id LIMIT ?', [page.after ?? '', page.limit]);
}

/** Marks the key revoked (once) and answers it as it now stands. */
export async function revokeApiKeyRow(q: Queryable, id: string, now: number): Promise<ApiKeyRow | undefined> {
  q.memo?.delete(liveKeyFact(id));
  await q.run('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id]);
  return q.one<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?', [id]);
}

const BY_DIGEST = 'SELECT * FROM api_keys WHERE secret_hash = ?';

/** The key with this digest, read outside any transaction (see `Db.oneUnsynced`). */
export async function findApiKeyByDigest(db: Db, digest: string): Promise<ApiKeyRow | undefined> {
  return db.oneUnsynced ? db.oneUnsynced<ApiKeyRow>(BY_DIGEST, [digest]) : db.one<ApiKeyRow>(BY_DIGEST, [digest]);
}

const liveKeyFact = (id: string) => `api key ${id} live`;

/** Whether the key exists and is not revoked: one read by primary key, once per transaction. */
export async function isKeyLive(q: Queryable, id: string): Promise<boolean> {
  const fact = liveKeyFact(id);
  if (q.memo?.has(fact)) return true;
  const live = (await q.one('SELECT 1 AS live FROM api_keys WHERE id = ? AND revoked_at IS NULL', [id])) !== undefined;
  if (live) q.memo?.set(fact, true);
  return live;
}
