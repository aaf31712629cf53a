import { describe, expect, it } from 'vitest';
import { formatMoney, minorDigits, minorToDecimal } from './money';

describe('minorDigits', () => {
  it('knows currencies without, with two and with three minor digits', () => {
    expect(minorDigits('JPY')).toBe(0);
    expect(minorDigits('USD')).toBe(2);
    expect(minorDigits('EUR')).toBe(2);
    expect(minorDigits('KWD')).toBe(3);
  });

  it('falls back to two for a malformed code', () => {
    expect(minorDigits('not a currency')).toBe(2);
  });
});

describe('minorToDecimal', () => {
  it('places the decimal point by integer arithmetic', () => {
    expect(minorToDecimal(4900, 2)).toBe('49.00');
    expect(minorToDecimal(5, 2)).toBe('0.05');
    expect(minorToDecimal(-4905, 2)).toBe('-49.05');
    expect(minorToDecimal(1234, 3)).toBe('1.234');
    expect(minorToDecimal(500, 0)).toBe('500');
    expect(minorToDecimal(-0, 2)).toBe('0.00');
  });

  it('stays exact where a float division would not', () => {
    expect(minorToDecimal(9_007_199_254_740_991, 2)).toBe('90071992547409.91');
  });
});

describe('formatMoney', () => {
  it('formats common currencies', () => {
    expect(formatMoney(4900, 'USD')).toBe('$49.00');
    expect(formatMoney(123450, 'EUR')).toBe('€1,234.50');
    expect(formatMoney(500, 'JPY')).toBe('¥500');
    expect(formatMoney(1234, 'KWD')).toMatch(/^KWD\s1\.234$/);
  });

  it('accepts lower-case codes', () => {
    expect(formatMoney(100, 'usd')).toBe('$1.00');
  });

  it('formats negatives with a true minus sign', () => {
    expect(formatMoney(-4905, 'USD')).toBe('\u2212$49.05');
  });

  it('keeps large prices exact', () => {
    expect(formatMoney(9_007_199_254_740_991, 'USD')).toBe('$90,071,992,547,409.91');
  });

  it('shows an unknown currency code instead of failing', () => {
    expect(formatMoney(1234, 'XY')).toBe('12.34 XY');
  });

  it('follows the locale when one is given', () => {
    expect(formatMoney(123450, 'EUR', 'de-DE')).toBe('1.234,50\u00a0€');
  });
});
