import { describe, expect, it } from 'vitest';
import { Counters } from './counters';
import { EventBuffer } from './buffer';

describe('Counters', () => {
  it('counts per key and in total', () => {
    const counters = new Counters();
    counters.add('SERVED');
    counters.add('SERVED');
    counters.add('INSUFFICIENT_CREDITS', 3);
    expect(counters.get('SERVED')).toBe(2);
    expect(counters.get('INSUFFICIENT_CREDITS')).toBe(3);
    expect(counters.get('RATE_LIMITED')).toBe(0);
    expect(counters.total).toBe(5);
    expect(counters.snapshot()).toEqual({ SERVED: 2, INSUFFICIENT_CREDITS: 3 });
  });

  it('hands out copies that later counting does not change', () => {
    const counters = new Counters();
    counters.add('A');
    const before = counters.snapshot();
    counters.add('A');
    expect(before).toEqual({ A: 1 });
  });

  it('stays exact when the list drops rows (counted on arrival)', () => {
    const counters = new Counters();
    const buffer = new EventBuffer<string>(100);
    for (let i = 0; i < 12_345; i++) {
      const key = i % 5 === 0 ? 'RATE_LIMITED' : 'SERVED';
      counters.add(key);
      buffer.push([key]);
    }
    expect(buffer.length).toBe(100);
    expect(counters.get('RATE_LIMITED')).toBe(2469);
    expect(counters.get('SERVED')).toBe(9876);
    expect(counters.total).toBe(12_345);
  });

  it('resets', () => {
    const counters = new Counters();
    counters.add('A', 2);
    counters.reset();
    expect(counters.total).toBe(0);
    expect(counters.snapshot()).toEqual({});
  });
});
