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

let lastDay = { start: 0, end: 0, day: '1970-01-01' };

export function isoDay(ms: number): string {
  // Metering asks for the same day many times a second: remember the last one.
  if (ms >= lastDay.start && ms < lastDay.end) return lastDay.day;
  const day = new Date(ms).toISOString().slice(0, 10);
  if (Number.isFinite(ms)) {
    const start = Math.floor(ms / DAY_MS) * DAY_MS;
    lastDay = { start, end: start + DAY_MS, day };
  }
  return day;
}

/** Midnight UTC of the day `ms` falls on. */
export function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2}))?$/;

/**
 * An RFC 3339 instant (or a bare `YYYY-MM-DD`, read as its UTC midnight) as
 * epoch ms; null for anything else, including days the calendar lacks
 * (`2026-02-30`), which `Date.parse` would quietly roll into March.
 */
export function parseInstant(text: string): number | null {
  const match = RFC3339.exec(text);
  if (!match) return null;
  const [, year, month, day, hour = '00', minute = '00', second = '00'] = match;
  const calendar = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (calendar.toISOString().slice(0, 10) !== `${year}-${month}-${day}`) return null;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return null;
  const ms = Date.parse(match[4] === undefined ? `${text}T00:00:00Z` : text);
  return Number.isNaN(ms) ? null : ms;
}
