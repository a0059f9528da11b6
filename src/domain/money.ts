/**
 * Money as allot keeps it: integer minor units of an ISO 4217 currency, whose
 * number of minor digits varies (USD 2, JPY 0, BHD 3). Amounts typed by people
 * ("29.99") are read as decimal text, never through a float.
 */

// ICU's list, with the ISO 4217 codes some ICU builds lack (VED, 2021).
const currencies = new Set([...Intl.supportedValuesOf('currency'), 'VED']);

/** Whether `code` is an ISO 4217 currency (as the runtime's ICU data knows them). */
export function isCurrency(code: string): boolean {
  return currencies.has(code);
}

/** Minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, BHD 3); 2 for a code Intl does not know. */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/**
 * A major-unit amount written as decimal text, in minor units of `currency`.
 * More decimals than the currency has are refused, never rounded. The sign is
 * kept: whether a negative amount is allowed is the caller's rule.
 *
 * @example
 * parseAmount('29.99', 'USD') // 2999
 * parseAmount('1500', 'JPY')  // 1500
 * parseAmount('1.5', 'JPY')   // throws: JPY has no minor unit
 */
export function parseAmount(text: string, currency: string): number {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) throw new Error('must be an amount like 29.99');
  const [, sign, whole, fraction = ''] = match;
  const digits = minorDigits(currency);
  if (fraction.length > digits) {
    throw new Error(digits === 0 ? `must be a whole amount: ${currency} has no minor unit` : `must have at most ${digits} decimals for ${currency}`);
  }
  const minor = BigInt(whole!) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, '0') || '0');
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('is too large');
  return sign ? -Number(minor) : Number(minor);
}

/** Minor units as major-unit decimal text: 2999 USD → "29.99", 1500 JPY → "1500". */
export function formatAmount(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  const text = String(Math.abs(minor)).padStart(digits + 1, '0');
  const major = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return `${minor < 0 ? '-' : ''}${major} ${currency}`;
}
