import { describe, expect, it } from 'vitest';
import { parsePriceTable, priceTableText, pricesChanged } from './prices';

describe('the price table', () => {
  it('reads one model per line and writes it back the same', () => {
    const parsed = parsePriceTable('gpt-4o-mini 150 600\n\n  gpt-4o, 2500, 10000  \n');
    expect(parsed).toEqual({
      ok: true,
      value: [
        { model: 'gpt-4o-mini', prompt_per_million: 150, completion_per_million: 600 },
        { model: 'gpt-4o', prompt_per_million: 2500, completion_per_million: 10000 },
      ],
    });
    if (parsed.ok) expect(priceTableText(parsed.value)).toBe('gpt-4o-mini 150 600\ngpt-4o 2500 10000');
  });

  it('names the line that is wrong', () => {
    expect(parsePriceTable('a 1 2\nb 1')).toEqual({ ok: false, error: expect.stringContaining('Line 2') });
    expect(parsePriceTable('a 1 -2')).toMatchObject({ ok: false });
    expect(parsePriceTable('a 1 2\na 3 4')).toEqual({ ok: false, error: 'Line 2: a is priced twice.' });
    expect(parsePriceTable('')).toEqual({ ok: true, value: [] });
  });

  it('tells a changed table from the same one', () => {
    const one = [{ model: 'a', prompt_per_million: 1, completion_per_million: 2 }];
    expect(pricesChanged(one, [{ ...one[0] }])).toBe(false);
    expect(pricesChanged(one, [{ ...one[0], completion_per_million: 3 }])).toBe(true);
  });
});
