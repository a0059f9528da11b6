/**
 * Model rates: what a token of each type costs in allowance tokens (SPEC §10).
 *
 * A weight is an exact decimal from 0 to 1000 with at most 6 places, kept as
 * an integer number of millionths (`Micros`), never as a float. An event's
 * charge is ceil(input·w_in + cached·w_cached + output·w_out), computed once
 * in integer arithmetic and rounded up once for the whole event.
 *
 * @example
 * const weights = { input_weight: parseWeight('2.5'), cached_input_weight: parseWeight(0.25), output_weight: parseWeight(10) };
 * chargedTokens({ input_tokens: 1000, cached_input_tokens: 3, output_tokens: 7 }, weights) // 2571 (2500 + 0.75 + 70, rounded up)
 */

/** A weight in millionths of an allowance token per token: 2.5 is 2_500_000. */
export type Micros = number;

export const MICROS_PER_UNIT = 1_000_000;
/** The largest weight, 1000 allowance tokens per token. */
export const MAX_WEIGHT_MICROS = 1000 * MICROS_PER_UNIT;
export const WEIGHT_DECIMALS = 6;

export interface Weights {
  input_weight: Micros;
  cached_input_weight: Micros;
  output_weight: Micros;
}

export interface TokenCounts {
  /** Input not served from a prompt cache. */
  input_tokens: number;
  /** Input read from a prompt cache. */
  cached_input_tokens: number;
  /** Output, reasoning included. */
  output_tokens: number;
}

/** The rate that answers for models without their own. */
export const DEFAULT_RATE_MODEL = '*';

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** Why a weight was refused, worded for a problem document's field error. */
export class WeightError extends Error {}

/**
 * A weight sent as a JSON number or as decimal text, in millionths. Refuses
 * (with a `WeightError`) what is not a plain decimal, is negative, has more
 * than 6 decimals or exceeds 1000; nothing is rounded.
 *
 * A JSON number is read as the shortest decimal that names the same double,
 * which is the decimal the client wrote whenever it wrote at most 15 digits.
 */
export function parseWeight(value: unknown): Micros {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new WeightError('must be a finite number');
    if (value < 0) throw new WeightError('must be at least 0');
    if (value > 1000) throw new WeightError('must be at most 1000');
    text = String(value);
    // Only numbers below 10^-6 (other than 0) print with an exponent in this range.
    if (text.includes('e')) throw new WeightError(`must have at most ${WEIGHT_DECIMALS} decimals`);
  } else if (typeof value === 'string') {
    text = value;
    if (text.startsWith('-') && DECIMAL.test(text.slice(1))) throw new WeightError('must be at least 0');
  } else {
    throw new WeightError('must be a number or a decimal string such as "2.5"');
  }
  const match = DECIMAL.exec(text);
  if (!match) throw new WeightError('must be a decimal such as 2.5 or "0.125"');
  const [, whole, fraction = ''] = match;
  if (fraction.length > WEIGHT_DECIMALS) throw new WeightError(`must have at most ${WEIGHT_DECIMALS} decimals`);
  // Leading zeros are harmless; the length test keeps BigInt's input small.
  const digits = whole!.replace(/^0+(?=\d)/, '');
  if (digits.length > 4) throw new WeightError('must be at most 1000');
  const micros = Number(digits) * MICROS_PER_UNIT + Number(fraction.padEnd(WEIGHT_DECIMALS, '0'));
  if (micros > MAX_WEIGHT_MICROS) throw new WeightError('must be at most 1000');
  return micros;
}

/**
 * Millionths as the JSON number clients see: the double nearest the exact
 * decimal (dividing two exact integers rounds once, as parsing the text does).
 */
export function weightNumber(micros: Micros): number {
  return micros / MICROS_PER_UNIT;
}

/** Millionths as exact decimal text: 2_500_000 → "2.5", 1 → "0.000001". */
export function weightText(micros: Micros): string {
  const whole = Math.floor(micros / MICROS_PER_UNIT);
  const fraction = String(micros % MICROS_PER_UNIT).padStart(WEIGHT_DECIMALS, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}

const MICROS = BigInt(MICROS_PER_UNIT);

/**
 * The allowance tokens an event costs: the exact weighted sum, rounded up
 * once. Counts up to 10^12 times weights up to 10^9 millionths exceed 2^53,
 * so the sum is taken in BigInt.
 */
export function chargedTokens(counts: TokenCounts, weights: Weights): number {
  const exact = BigInt(counts.input_tokens) * BigInt(weights.input_weight)
    + BigInt(counts.cached_input_tokens) * BigInt(weights.cached_input_weight)
    + BigInt(counts.output_tokens) * BigInt(weights.output_weight);
  return Number((exact + MICROS - 1n) / MICROS);
}

/** What an event costs when no rate is defined at all: every token counts one. */
export function plainTokens(counts: TokenCounts): number {
  return counts.input_tokens + counts.cached_input_tokens + counts.output_tokens;
}
