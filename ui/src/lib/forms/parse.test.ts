import { describe, expect, it } from 'vitest';
import { optionalText, parseInteger, parseList } from './parse';

describe('parseInteger', () => {
  it('reads whole numbers with separators and signs', () => {
    expect(parseInteger('42')).toEqual({ ok: true, value: 42 });
    expect(parseInteger(' 10,000 ')).toEqual({ ok: true, value: 10000 });
    expect(parseInteger('10 000')).toEqual({ ok: true, value: 10000 });
    expect(parseInteger('1_000_000')).toEqual({ ok: true, value: 1000000 });
    expect(parseInteger('-20')).toEqual({ ok: true, value: -20 });
    expect(parseInteger('\u221220')).toEqual({ ok: true, value: -20 });
    expect(parseInteger('+5')).toEqual({ ok: true, value: 5 });
    expect(parseInteger('-0')).toEqual({ ok: true, value: 0 });
  });

  it('refuses what is not a whole number', () => {
    expect(parseInteger('1.5').ok).toBe(false);
    expect(parseInteger('1e3').ok).toBe(false);
    expect(parseInteger('abc').ok).toBe(false);
    expect(parseInteger('12abc').ok).toBe(false);
  });

  it('refuses numbers that would lose digits', () => {
    expect(parseInteger('9007199254740993')).toEqual({ ok: false, error: 'That number is too large.' });
  });

  it('applies bounds', () => {
    expect(parseInteger('0', { min: 1 })).toEqual({ ok: false, error: 'Must be at least 1.' });
    expect(parseInteger('101', { max: 100 })).toEqual({ ok: false, error: 'Must be at most 100.' });
    expect(parseInteger('1', { min: 1, max: 1 })).toEqual({ ok: true, value: 1 });
  });

  it('treats empty as required unless optional', () => {
    expect(parseInteger('')).toEqual({ ok: false, error: 'Required.' });
    expect(parseInteger('  ', { optional: true })).toEqual({ ok: true, value: null });
  });
});

describe('parseList', () => {
  it('splits, trims and drops empties and duplicates', () => {
    expect(parseList('search, export,,beta, search')).toEqual(['search', 'export', 'beta']);
    expect(parseList('')).toEqual([]);
    expect(parseList(' , ')).toEqual([]);
  });
});

describe('optionalText', () => {
  it('maps blank to null', () => {
    expect(optionalText('  ')).toBeNull();
    expect(optionalText(' pro ')).toBe('pro');
  });
});
