import { describe, expect, it } from 'vitest';
import { parseMoneyInput } from './money-input';

describe('a paid amount typed as money', () => {
  it('becomes exact minor units of the currency', () => {
    expect(parseMoneyInput('49.9', 'USD')).toEqual({ ok: true, value: 4990 });
    expect(parseMoneyInput('1,250.00', 'EUR')).toEqual({ ok: true, value: 125_000 });
    expect(parseMoneyInput('500', 'JPY')).toEqual({ ok: true, value: 500 });
    expect(parseMoneyInput('0.1', 'KWD')).toEqual({ ok: true, value: 100 });
    expect(parseMoneyInput('  ', 'USD')).toEqual({ ok: true, value: null });
  });

  it('refuses what it cannot read exactly, saying why', () => {
    expect(parseMoneyInput('4.999', 'USD')).toEqual({ ok: false, error: 'USD has 2 decimals at most.' });
    expect(parseMoneyInput('5.5', 'JPY')).toEqual({ ok: false, error: 'JPY has no decimals.' });
    expect(parseMoneyInput('-5', 'USD').ok).toBe(false);
    expect(parseMoneyInput('1e3', 'USD').ok).toBe(false);
    expect(parseMoneyInput('99999999999999999', 'USD').ok).toBe(false);
  });
});
