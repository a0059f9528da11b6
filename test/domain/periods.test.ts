import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addIntervals, nextBoundaryAfter, periodAt, periodIndexAt } from '../../src/domain/periods.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('addIntervals', () => {
  it('clamps a 31st anchor to each month end without drifting (SPEC §5)', () => {
    const anchor = at('2025-01-31T12:00:00.000Z');
    assert.deepEqual(
      [1, 2, 3, 4].map((k) => iso(addIntervals(anchor, 'month', k))),
      ['2025-02-28T12:00:00.000Z', '2025-03-31T12:00:00.000Z', '2025-04-30T12:00:00.000Z', '2025-05-31T12:00:00.000Z'],
    );
  });

  it('uses Feb 29 in a leap year, then returns to the 31st', () => {
    const anchor = at('2024-01-31T00:00:00.000Z');
    assert.equal(iso(addIntervals(anchor, 'month', 1)), '2024-02-29T00:00:00.000Z');
    assert.equal(iso(addIntervals(anchor, 'month', 2)), '2024-03-31T00:00:00.000Z');
  });

  it('clamps a yearly Feb 29 anchor to Feb 28 and back to Feb 29 in the next leap year', () => {
    const anchor = at('2024-02-29T08:30:00.000Z');
    assert.deepEqual(
      [1, 2, 3, 4].map((k) => iso(addIntervals(anchor, 'year', k))),
      ['2025-02-28T08:30:00.000Z', '2026-02-28T08:30:00.000Z', '2027-02-28T08:30:00.000Z', '2028-02-29T08:30:00.000Z'],
    );
  });

  it('keeps the milliseconds of the time of day', () => {
    assert.equal(iso(addIntervals(at('2025-03-15T23:59:59.999Z'), 'month', 1)), '2025-04-15T23:59:59.999Z');
  });

  it('wraps December into January of the next year', () => {
    const anchor = at('2025-12-31T10:00:00.000Z');
    assert.equal(iso(addIntervals(anchor, 'month', 1)), '2026-01-31T10:00:00.000Z');
    assert.equal(iso(addIntervals(anchor, 'month', 2)), '2026-02-28T10:00:00.000Z');
    assert.equal(iso(addIntervals(anchor, 'month', 13)), '2027-01-31T10:00:00.000Z');
  });

  it('is the anchor itself at k = 0', () => {
    const anchor = at('2025-01-31T12:00:00.000Z');
    assert.equal(addIntervals(anchor, 'month', 0), anchor);
    assert.equal(addIntervals(anchor, 'year', 0), anchor);
  });

  it('computes a far boundary straight from the anchor', () => {
    // 1200 months = 100 years; 2125-01 has 31 days, so the 31st survives.
    assert.equal(iso(addIntervals(at('2025-01-31T12:00:00.000Z'), 'month', 1200)), '2125-01-31T12:00:00.000Z');
    // 1201 months → February 2125 (not a leap year: 2125 % 4 = 1) → 28th.
    assert.equal(iso(addIntervals(at('2025-01-31T12:00:00.000Z'), 'month', 1201)), '2125-02-28T12:00:00.000Z');
  });
});

describe('periodAt', () => {
  it('gives consecutive periods that share their boundaries', () => {
    const anchor = at('2025-01-31T12:00:00.000Z');
    assert.deepEqual(periodAt(anchor, 'month', 0), { start: anchor, end: at('2025-02-28T12:00:00.000Z') });
    assert.deepEqual(periodAt(anchor, 'month', 1), {
      start: at('2025-02-28T12:00:00.000Z'),
      end: at('2025-03-31T12:00:00.000Z'),
    });
    assert.deepEqual(periodAt(anchor, 'month', 3), {
      start: at('2025-04-30T12:00:00.000Z'),
      end: at('2025-05-31T12:00:00.000Z'),
    });
  });

  it('works for yearly allowances', () => {
    assert.deepEqual(periodAt(at('2024-02-29T00:00:00.000Z'), 'year', 1), {
      start: at('2025-02-28T00:00:00.000Z'),
      end: at('2026-02-28T00:00:00.000Z'),
    });
  });
});

describe('periodIndexAt', () => {
  const anchor = at('2025-01-31T12:00:00.000Z');

  it('is 0 before and at the anchor', () => {
    assert.equal(periodIndexAt(anchor, 'month', at('2020-06-01T00:00:00.000Z')), 0);
    assert.equal(periodIndexAt(anchor, 'month', anchor - 1), 0);
    assert.equal(periodIndexAt(anchor, 'month', anchor), 0);
  });

  it('puts a boundary instant in the new period', () => {
    const feb28 = at('2025-02-28T12:00:00.000Z');
    assert.equal(periodIndexAt(anchor, 'month', feb28 - 1), 0);
    assert.equal(periodIndexAt(anchor, 'month', feb28), 1);
    const mar31 = at('2025-03-31T12:00:00.000Z');
    assert.equal(periodIndexAt(anchor, 'month', mar31 - 1), 1);
    assert.equal(periodIndexAt(anchor, 'month', mar31), 2);
  });

  it('corrects the calendar-month estimate when the day or time of day is earlier than the anchor', () => {
    // March 1 is one calendar month after January but still in period 1 (Feb 28 → Mar 31).
    assert.equal(periodIndexAt(anchor, 'month', at('2025-03-01T00:00:00.000Z')), 1);
    // Mar 31 at 11:59 is before the 12:00 boundary.
    assert.equal(periodIndexAt(anchor, 'month', at('2025-03-31T11:59:59.999Z')), 1);
  });

  it('agrees with periodAt for every period over 100 years', () => {
    for (let k = 0; k < 1200; k++) {
      const { start, end } = periodAt(anchor, 'month', k);
      assert.equal(periodIndexAt(anchor, 'month', start), k);
      assert.equal(periodIndexAt(anchor, 'month', end - 1), k);
    }
  });

  it('agrees with periodAt for month-end, leap-day and late-night anchors', () => {
    const anchors = ['2024-02-29T00:00:00.000Z', '2025-03-30T23:59:59.999Z', '2025-08-31T00:00:00.001Z', '2025-12-31T18:00:00.000Z'];
    for (const interval of ['month', 'year'] as const) {
      for (const a of anchors.map(at)) {
        for (let k = 0; k < 60; k++) {
          const { start, end } = periodAt(a, interval, k);
          assert.equal(periodIndexAt(a, interval, start), k);
          assert.equal(periodIndexAt(a, interval, end - 1), k);
          assert.equal(nextBoundaryAfter(a, interval, start), end);
        }
      }
    }
  });

  it('finds a far period directly', () => {
    // 2125-01-31T12:00 is boundary 1200; one ms earlier is still period 1199.
    const boundary = at('2125-01-31T12:00:00.000Z');
    assert.equal(periodIndexAt(anchor, 'month', boundary), 1200);
    assert.equal(periodIndexAt(anchor, 'month', boundary - 1), 1199);
  });

  it('handles yearly intervals around Feb 28/29', () => {
    const leap = at('2024-02-29T00:00:00.000Z');
    assert.equal(periodIndexAt(leap, 'year', at('2025-02-27T23:59:59.999Z')), 0);
    assert.equal(periodIndexAt(leap, 'year', at('2025-02-28T00:00:00.000Z')), 1);
    assert.equal(periodIndexAt(leap, 'year', at('2028-02-28T12:00:00.000Z')), 3);
    assert.equal(periodIndexAt(leap, 'year', at('2028-02-29T00:00:00.000Z')), 4);
    // Early in the year the calendar estimate (2026 − 2024 = 2 years) is one too many.
    assert.equal(periodIndexAt(leap, 'year', at('2026-01-15T00:00:00.000Z')), 1);
  });
});

describe('nextBoundaryAfter', () => {
  const anchor = at('2025-01-31T12:00:00.000Z');

  it('is the first boundary when the instant is at or before the anchor', () => {
    assert.equal(iso(nextBoundaryAfter(anchor, 'month', anchor)), '2025-02-28T12:00:00.000Z');
    assert.equal(iso(nextBoundaryAfter(anchor, 'month', anchor - 5 * 86_400_000)), '2025-02-28T12:00:00.000Z');
  });

  it('is strictly after the instant, also on a boundary', () => {
    assert.equal(iso(nextBoundaryAfter(anchor, 'month', at('2025-02-28T11:59:59.999Z'))), '2025-02-28T12:00:00.000Z');
    assert.equal(iso(nextBoundaryAfter(anchor, 'month', at('2025-02-28T12:00:00.000Z'))), '2025-03-31T12:00:00.000Z');
    assert.equal(iso(nextBoundaryAfter(anchor, 'month', at('2025-04-15T00:00:00.000Z'))), '2025-04-30T12:00:00.000Z');
  });

  it('follows a yearly billing cycle', () => {
    const leap = at('2024-02-29T00:00:00.000Z');
    assert.equal(iso(nextBoundaryAfter(leap, 'year', at('2024-06-01T00:00:00.000Z'))), '2025-02-28T00:00:00.000Z');
    assert.equal(iso(nextBoundaryAfter(leap, 'year', at('2027-02-28T00:00:00.000Z'))), '2028-02-29T00:00:00.000Z');
  });
});
