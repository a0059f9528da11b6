/**
 * Calendar-correct periods (SPEC §5). Boundary k is always anchor + k
 * intervals computed from the anchor itself, so a short month never shifts
 * later boundaries: anchor Jan 31 → Feb 28, Mar 31, Apr 30, …
 */
export type Interval = 'month' | 'year';

const MONTHS_PER: Record<Interval, number> = { month: 1, year: 12 };

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

function monthNumber(instant: number): number {
  const date = new Date(instant);
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}

/** anchor + k intervals in UTC, keeping the time of day; a day the target month lacks clamps to its last day. */
export function addIntervals(anchor: number, interval: Interval, k: number): number {
  const date = new Date(anchor);
  const target = monthNumber(anchor) + k * MONTHS_PER[interval];
  const year = Math.floor(target / 12);
  const month = target - year * 12;
  const day = Math.min(date.getUTCDate(), daysInMonth(year, month));
  const timeOfDay = anchor - Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  return Date.UTC(year, month, day) + timeOfDay;
}

/** Bounds of allowance period `index` (0-based): [start, end). */
export function periodAt(anchor: number, interval: Interval, index: number): { start: number; end: number } {
  return { start: addIntervals(anchor, interval, index), end: addIntervals(anchor, interval, index + 1) };
}

/** The index of the period containing `instant`; a boundary instant belongs to the period it starts; 0 before the anchor. */
export function periodIndexAt(anchor: number, interval: Interval, instant: number): number {
  if (instant < anchor) return 0;
  // Boundary k always lies in calendar month anchor + k intervals, so counting calendar
  // months gives the index or one too many (when the day or time of day is earlier).
  const k = Math.floor((monthNumber(instant) - monthNumber(anchor)) / MONTHS_PER[interval]);
  return addIntervals(anchor, interval, k) > instant ? k - 1 : k;
}

/** The first boundary (k ≥ 1) strictly after `instant`: a period end or a next billing date. */
export function nextBoundaryAfter(anchor: number, interval: Interval, instant: number): number {
  return addIntervals(anchor, interval, periodIndexAt(anchor, interval, instant) + 1);
}
