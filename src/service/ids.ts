import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A server id: prefix, 10 characters of time, 16 of randomness (Crockford
 * base32, lower case). Ids made later sort after ids made earlier.
 * `random` replaces the randomness where an id must be reproducible (import).
 */
export function newId(prefix: 'sub' | 'res' | 'key', now: number, random: Uint8Array = randomBytes(16)): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  let tail = '';
  for (const byte of random.subarray(0, 16)) tail += CROCKFORD[byte % 32];
  return `${prefix}_${time}${tail}`;
}
