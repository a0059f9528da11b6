import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** The last id this process made, as time and random digits, to keep ids made in one millisecond in order. */
let last: { time: number; digits: number[] } | undefined;

function nextDigits(digits: readonly number[]): number[] {
  const next = [...digits];
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 31) {
      next[i]!++;
      return next;
    }
    next[i] = 0;
  }
  return next;
}

/**
 * A server id: prefix, 10 characters of time, 16 of randomness (Crockford
 * base32, lower case). Ids made later sort after ids made earlier; within one
 * millisecond (or a frozen test clock) this process counts the random part up.
 * `random` replaces the randomness where an id must be reproducible (import).
 */
export function newId(prefix: 'sub' | 'res' | 'key', now: number, random?: Uint8Array): string {
  const fresh = (bytes: Uint8Array) => [...bytes.subarray(0, 16)].map((byte) => byte % 32);
  let time = now;
  let digits: number[];
  if (random !== undefined) {
    digits = fresh(random);
  } else {
    if (last && time <= last.time) {
      time = last.time;
      digits = nextDigits(last.digits);
      // Counted past the largest random part: the next millisecond keeps the order.
      if (digits.every((d) => d === 0)) time++;
    } else {
      digits = fresh(randomBytes(16));
    }
    last = { time, digits };
  }
  let timeText = '';
  for (let i = 0, t = time; i < 10; i++) {
    timeText = CROCKFORD[t % 32]! + timeText;
    t = Math.floor(t / 32);
  }
  return `${prefix}_${timeText}${digits.map((d) => CROCKFORD[d]).join('')}`;
}
