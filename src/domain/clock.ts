/**
 * Time for every rule in allot comes from a Clock, never from `Date.now()`,
 * so tests and demos can freeze and move it (`ALLOT_TEST_CLOCK`).
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock frozen at a start instant that only moves forward when told to. */
export class TestClock implements Clock {
  #now: number;

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock to `instant`; returns false when that would go backwards. */
  set(instant: number): boolean {
    if (instant < this.#now) return false;
    this.#now = instant;
    return true;
  }
}

export const DAY_MS = 86_400_000;

export function isoInstant(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Midnight UTC of the day `ms` falls on. */
export function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}
