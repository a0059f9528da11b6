/**
 * Seed money (a float of major units, e.g. `29.99`) to integer minor units,
 * through the number's decimal text so no float error creeps in.
 */
import { minorDigits } from '../domain/money.ts';
import { DecimalText } from './extended-json.ts';

/** Plain decimal text of a finite number, without exponent: 1e-7 → "0.0000001". */
function decimalText(value: number): string {
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toFixed(20).replace(/\.?0+$/, '');
}

/**
 * `amount` in minor units of `currency`. Digits beyond the currency's are
 * allowed only as float noise (29.990000000000002 → 2999); a real extra
 * digit (9.995 USD) is refused rather than rounded silently.
 */
export function toMinorUnits(amount: unknown, currency: string): number {
  let text: string;
  if (amount instanceof DecimalText) text = amount.text;
  else if (typeof amount === 'number' && Number.isFinite(amount)) text = decimalText(amount);
  else throw new Error('must be a number');
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Error(`${text} is not a decimal amount`);
  const [, sign, whole, fraction = ''] = match;
  if (sign) throw new Error(`${text} is negative`);
  const digits = minorDigits(currency);
  const kept = fraction.slice(0, digits).padEnd(digits, '0');
  const dropped = fraction.slice(digits);
  let minor = BigInt(whole!) * 10n ** BigInt(digits) + BigInt(kept || '0');
  if (dropped && /[1-9]/.test(dropped)) {
    // Float noise shows as a long run of 0s or 9s right after the kept digits.
    if (/^0{6,}/.test(dropped)) {
      // rounds down to `minor`
    } else if (/^9{6,}/.test(dropped)) {
      minor += 1n;
    } else {
      throw new Error(`${text} has more than ${digits} decimals for ${currency}`);
    }
  }
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${text} is too large`);
  return Number(minor);
}
