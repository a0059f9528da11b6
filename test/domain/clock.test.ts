import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInstant } from '../../src/domain/clock.ts';

describe('parseInstant', () => {
  it('reads RFC 3339 instants with and without fractions and offsets', () => {
    assert.equal(parseInstant('2026-01-31T10:00:00.000Z'), Date.UTC(2026, 0, 31, 10));
    assert.equal(parseInstant('2026-01-31T10:00:00Z'), Date.UTC(2026, 0, 31, 10));
    assert.equal(parseInstant('2026-01-31T12:00:00+02:00'), Date.UTC(2026, 0, 31, 10));
    assert.equal(parseInstant('2024-02-29T00:00:00.5Z'), Date.UTC(2024, 1, 29, 0, 0, 0, 500));
  });

  it('reads a bare day as its UTC midnight', () => {
    assert.equal(parseInstant('2026-03-01'), Date.UTC(2026, 2, 1));
  });

  it('refuses days the calendar lacks and other text', () => {
    for (const text of ['2026-02-30', '2025-02-29T00:00:00Z', '2026-13-01', '2026-01-31T24:00:00Z', '2026-01-31T10:00', 'yesterday', '', '1700000000000']) {
      assert.equal(parseInstant(text), null, text);
    }
  });
});
