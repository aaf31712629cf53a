// Prices are integer minor units with an ISO 4217 currency (4900 USD = $49.00). Converting to
// a decimal string by integer arithmetic keeps large prices exact, where dividing by 100 as
// a float would not.

const MINUS = '\u2212';

/**
 * How many minor units a currency has (USD 2, JPY 0, KWD 3), taken from the platform's
 * currency data; an unknown code falls back to 2, the common case.
 */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** The decimal text of an amount in minor units, e.g. (-4905, 2) → "-49.05". Exact for any safe integer. */
export function minorToDecimal(minor: number, digits: number): string {
  const negative = minor < 0;
  const abs = BigInt(Math.abs(Math.trunc(minor)));
  if (digits === 0) return (negative ? '-' : '') + abs.toString();
  const scale = 10n ** BigInt(digits);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(digits, '0');
  return `${negative && abs !== 0n ? '-' : ''}${whole}.${fraction}`;
}

/**
 * A price as people read it ("$49.00", "¥500", "€1,234.50"), or "12.34 XYZ" for a code the
 * platform does not know, so a typo in a plan's currency is visible instead of fatal.
 */
export function formatMoney(minor: number, currency: string, locale = 'en-US'): string {
  if (!Number.isFinite(minor)) return '—';
  const code = currency.trim().toUpperCase();
  const digits = minorDigits(code);
  const decimal = minorToDecimal(minor, digits);
  try {
    const format = new Intl.NumberFormat(locale, {
      style: 'currency',
      currency: code,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    // Intl formats decimal strings exactly (no float round-trip).
    return format.format(decimal as Intl.StringNumericLiteral).replace('-', MINUS);
  } catch {
    return `${decimal.replace('-', MINUS)} ${code || '???'}`;
  }
}
