import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chargedTokens, parseWeight, plainTokens, weightNumber, weightText, WeightError } from '../../src/domain/rates.ts';

test('weights: decimals as numbers or text, kept exactly in millionths; anything else is refused, never rounded', () => {
  const exact: Array<[unknown, number]> = [
    [0, 0], ['0', 0], [2.5, 2_500_000], ['2.5', 2_500_000], ['2.500000', 2_500_000], [0.000001, 1], ['0.000001', 1],
    [0.07, 70_000], [1000, 1_000_000_000], ['1000.000000', 1_000_000_000], [999.999999, 999_999_999], ['007.5', 7_500_000], [-0, 0],
  ];
  for (const [value, micros] of exact) assert.equal(parseWeight(value), micros, JSON.stringify(value));
  const refused: Array<[unknown, RegExp]> = [
    [-1, /at least 0/], ['-0.5', /at least 0/], [1000.000001, /at most 1000/], ['1000.000001', /at most 1000/], ['99999999999999999999', /at most 1000/],
    [1e300, /at most 1000/], [0.0000001, /6 decimals/], [1e-7, /6 decimals/], ['1.1234567', /6 decimals/], [0.0000015, /6 decimals/],
    ['abc', /decimal/], ['', /decimal/], [' 1', /decimal/], ['1e3', /decimal/], ['.5', /decimal/], ['5.', /decimal/], ['0x10', /decimal/],
    [Number.NaN, /finite/], [Infinity, /finite/], [null, /number or a decimal string/], [true, /number or a decimal string/], [[1], /number or a decimal string/],
  ];
  for (const [value, message] of refused) assert.throws(() => parseWeight(value), (e: unknown) => e instanceof WeightError && message.test(e.message), String(value));
  assert.deepEqual([weightNumber(2_500_000), weightNumber(1), weightNumber(70_000)], [2.5, 0.000001, 0.07]);
  assert.deepEqual([weightText(2_500_000), weightText(1), weightText(1_000_000_000), weightText(0)], ['2.5', '0.000001', '1000', '0']);
});

test('a charge is the exact weighted sum, rounded up once', () => {
  const w = (input: number, cached: number, output: number) => ({ input_weight: input, cached_input_weight: cached, output_weight: output });
  const c = (input: number, cached: number, output: number) => ({ input_tokens: input, cached_input_tokens: cached, output_tokens: output });
  assert.equal(chargedTokens(c(1000, 3, 7), w(2_500_000, 250_000, 10_000_000)), 2571); // 2500 + 0.75 + 70
  assert.equal(chargedTokens(c(1, 1, 1), w(500_000, 50_000, 1_500_000)), 3); // 2.05: once, not 1 + 1 + 2
  assert.equal(chargedTokens(c(100, 0, 0), w(70_000, 0, 0)), 7); // 100 × 0.07 is 7, not a float's 7.000000000000001
  assert.equal(chargedTokens(c(0, 0, 0), w(1, 1, 1)), 0);
  assert.equal(chargedTokens(c(1, 0, 0), w(1, 0, 0)), 1);
  // 10^12 of each at the largest weight: 3·10^15, exact although the products pass 2^53.
  assert.equal(chargedTokens(c(1e12, 1e12, 1e12), w(1e9, 1e9, 1e9)), 3e15);
  // (10^12 − 1)(1000 − 10^-6) = 10^15 − 10^6 − 1000 + 10^-6 = 999999998999000.000001, rounded up.
  assert.equal(chargedTokens(c(1e12 - 1, 0, 0), w(999_999_999, 0, 0)), 999_999_998_999_001);
  assert.equal(plainTokens(c(3, 4, 5)), 12);
});
