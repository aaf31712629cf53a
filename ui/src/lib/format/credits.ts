// Credits are integers everywhere (i64 on the server); these helpers only ever format them,
// never round them, so what the operator reads is exactly what the ledger holds.

const MINUS = '\u2212';

const grouping = new Map<string, Intl.NumberFormat>();

function integerFormat(locale: string): Intl.NumberFormat {
  let format = grouping.get(locale);
  if (!format) {
    format = new Intl.NumberFormat(locale, { maximumFractionDigits: 0, useGrouping: true });
    grouping.set(locale, format);
  }
  return format;
}

/**
 * A credit amount with thousands separators and a true minus sign, so balances line up and
 * a negative correction cannot be mistaken for a hyphenated label.
 */
export function formatCredits(credits: number, locale = 'en-US'): string {
  if (!Number.isFinite(credits)) return '—';
  const text = integerFormat(locale).format(Math.abs(Math.trunc(credits)));
  return credits < 0 && Math.trunc(credits) !== 0 ? MINUS + text : text;
}

/**
 * A ledger movement with an explicit sign (+5,000 / −20): the direction of money is the
 * first thing an operator looks for in a ledger line.
 */
export function formatSignedCredits(credits: number, locale = 'en-US'): string {
  if (!Number.isFinite(credits)) return '—';
  if (Math.trunc(credits) === 0) return '0';
  return (credits > 0 ? '+' : '') + formatCredits(credits, locale);
}

/**
 * A short form for dense places (chart axes, top lists): 950, 12.3k, 4.5M. Never used where
 * the exact figure matters, such as a balance or a counter.
 */
export function formatCompact(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const sign = value < 0 ? MINUS : '';
  const abs = Math.abs(value);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const scaled = abs / size;
      const digits = scaled >= 100 ? 0 : 1;
      const text = scaled.toFixed(digits).replace(/\.0$/, '');
      return sign + text + suffix;
    }
  }
  return sign + String(Math.round(abs));
}
