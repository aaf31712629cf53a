import { describe, expect, it } from 'vitest';
import { formatCompact, formatCredits, formatSignedCredits } from './credits';

describe('formatCredits', () => {
  it('groups thousands', () => {
    expect(formatCredits(0)).toBe('0');
    expect(formatCredits(999)).toBe('999');
    expect(formatCredits(1000)).toBe('1,000');
    expect(formatCredits(1234567)).toBe('1,234,567');
  });

  it('writes negatives with a true minus sign', () => {
    expect(formatCredits(-20)).toBe('\u221220');
    expect(formatCredits(-1500)).toBe('\u22121,500');
  });

  it('keeps the largest amounts a command may move exact', () => {
    expect(formatCredits(1_000_000_000_000_000)).toBe('1,000,000,000,000,000');
    expect(formatCredits(Number.MAX_SAFE_INTEGER)).toBe('9,007,199,254,740,991');
  });

  it('never shows a negative zero or a fraction', () => {
    expect(formatCredits(-0)).toBe('0');
    expect(formatCredits(12.9)).toBe('12');
  });

  it('follows the locale when one is given', () => {
    expect(formatCredits(1234567, 'de-DE')).toBe('1.234.567');
  });

  it('marks unreadable values instead of printing NaN', () => {
    expect(formatCredits(Number.NaN)).toBe('—');
  });
});

describe('formatSignedCredits', () => {
  it('shows the direction of every movement', () => {
    expect(formatSignedCredits(5000)).toBe('+5,000');
    expect(formatSignedCredits(-20)).toBe('\u221220');
    expect(formatSignedCredits(0)).toBe('0');
  });
});

describe('formatCompact', () => {
  it('shortens large figures for dense places', () => {
    expect(formatCompact(950)).toBe('950');
    expect(formatCompact(1000)).toBe('1k');
    expect(formatCompact(12_345)).toBe('12.3k');
    expect(formatCompact(123_456)).toBe('123k');
    expect(formatCompact(4_500_000)).toBe('4.5M');
    expect(formatCompact(-2500)).toBe('\u22122.5k');
  });
});
