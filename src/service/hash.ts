import * as crypto from 'node:crypto';

/** One-shot hashing (Node 20.12 and later) skips building a Hash object per call; earlier releases build one. */
const hashOnce = typeof crypto.hash === 'function' ? crypto.hash : undefined;

/** JSON with keys sorted at every level, so equal content hashes equally. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function sha256(text: string): string {
  return hashOnce ? hashOnce('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex');
}

/** The SHA-256 digest as 32 bytes, for comparisons in constant time. */
export function sha256Bytes(text: string): Buffer {
  return hashOnce ? hashOnce('sha256', text, 'buffer') : crypto.createHash('sha256').update(text).digest();
}

export function contentHash(value: unknown): string {
  return sha256(canonicalJson(value));
}
